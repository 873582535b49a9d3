"""Settings that must not reach production as shipped: the API and the worker refuse to
start outside dev mode while a secret is still its public development default."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from core.settings import InsecureSettings, Settings
from starter.api import create_app

ROOT = Path(__file__).resolve().parents[2]


def test_development_secrets_are_refused_outside_dev_mode() -> None:
    with pytest.raises(InsecureSettings, match="LINK_SECRET and INBOUND_EMAIL_SECRET are still the development default"):
        Settings(_env_file=None).require_real_secrets()
    with pytest.raises(InsecureSettings, match="^INBOUND_EMAIL_SECRET is still"):
        Settings(_env_file=None, link_secret="a-real-secret-of-some-length").require_real_secrets()
    Settings(_env_file=None, dev_mode=True).require_real_secrets()
    Settings(_env_file=None, link_secret="a-real-secret-of-some-length", inbound_email_secret="another-real-secret").require_real_secrets()


def test_the_api_does_not_start_with_them() -> None:
    app = create_app(Settings(_env_file=None, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"))
    with pytest.raises(InsecureSettings, match="LINK_SECRET"), TestClient(app):
        pass


def test_the_worker_process_refuses_and_says_which_setting(tmp_path: Path) -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/none", "TEMPORAL_ADDRESS": "127.0.0.1:1"}
    done = subprocess.run([sys.executable, str(ROOT / "worker.py")], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert "refusing to start: LINK_SECRET and INBOUND_EMAIL_SECRET are still the development default" in done.stderr
