"""starter"""
