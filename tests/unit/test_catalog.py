"""Reading cadence documents (YAML or JSON) with inline or folder templates into checked bundles."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from cadence.definition import TemplateSource
from cadence.parse import DefinitionError
from starter.catalog import bundle_from_document, folder_lookup, load_file, parse_text, playbook_files

SOURCE = "playbooks/welcome.yaml"

WELCOME_YAML = """\
key: welcome
name: Welcome
steps:
  - id: hello
    type: email
    template: welcome-email
  - id: nudge
    type: sms
    template: nudge-sms
    wait: {days: 2, at: "10:00"}
templates:
  welcome-email:
    channel: email
    subject: "Welcome, {{ contact.first_name or 'friend' }}"
    html: "<p>Hi {{ contact.first_name or 'there' }}</p>"
    text: "Hi {{ contact.first_name or 'there' }}"
  nudge-sms:
    channel: sms
    body: "Hi {{ contact.first_name or 'there' }}, reply STOP to opt out"
"""


def raises(text: str, **kw: Any) -> DefinitionError:
    with pytest.raises(DefinitionError) as info:
        parse_text(text, source=SOURCE, **kw)
    return info.value


def test_yaml_with_inline_templates_gives_a_bundle() -> None:
    bundle = parse_text(WELCOME_YAML, source=SOURCE)
    assert bundle.definition.key == "welcome"
    assert [s.id for s in bundle.definition.steps] == ["hello", "nudge"]
    assert set(bundle.templates) == {"welcome-email", "nudge-sms"}
    assert bundle.templates["nudge-sms"].channel == "sms"
    assert bundle.templates["welcome-email"].name == "welcome-email"


def test_json_and_yaml_of_the_same_document_are_the_same_version() -> None:
    as_json = json.dumps(yaml.safe_load(WELCOME_YAML), indent=2)
    assert parse_text(as_json, source="welcome.json").version_hash == parse_text(WELCOME_YAML, source=SOURCE).version_hash


def test_editing_a_template_changes_the_version() -> None:
    edited = WELCOME_YAML.replace("reply STOP to opt out", "reply STOP to stop")
    assert parse_text(edited).version_hash != parse_text(WELCOME_YAML).version_hash


def test_malformed_yaml_names_source_line_and_column() -> None:
    broken = WELCOME_YAML.replace('    wait: {days: 2, at: "10:00"}', '    wait: {days: 2, at: "10:00"')
    err = raises(broken)
    message = str(err)
    assert message.startswith(f"{SOURCE}: field '(yaml)': malformed YAML at line ")
    match = re.search(r"at line (\d+), column (\d+)", message)
    assert match is not None
    assert 10 <= int(match.group(1)) <= 12


def test_malformed_yaml_indentation() -> None:
    err = raises("key: welcome\nname: Welcome\n steps: []\n")
    assert "line 3, column 7" in str(err)


def test_malformed_json_names_line_and_column() -> None:
    err = raises('{\n  "key": "welcome",\n  "name": ,\n}')
    assert str(err) == f"{SOURCE}: field '(json)': malformed JSON at line 3, column 11: Expecting value"


def test_json_after_leading_whitespace_is_still_json() -> None:
    err = raises('\n\n   {"key": }')
    assert "malformed JSON at line 3" in str(err)


@pytest.mark.parametrize("text", ["", "- just\n- a list\n", "just a string", "42"])
def test_a_document_that_is_not_a_mapping(text: str) -> None:
    err = raises(text)
    assert str(err) == f"{SOURCE}: field '(root)': a cadence must be a mapping of fields"


def test_definition_errors_name_the_source_step_and_field() -> None:
    err = raises(WELCOME_YAML.replace("wait: {days: 2", "wait: {days: -2"))
    assert str(err) == f"{SOURCE}: step 2 'nudge': field 'wait.days': Input should be greater than or equal to 0"


def test_missing_template_names_the_step() -> None:
    err = raises(WELCOME_YAML.replace("template: nudge-sms", "template: nudge-sms-v2"))
    assert str(err) == f"{SOURCE}: step 2 'nudge': field 'template': template 'nudge-sms-v2' not found"


def test_template_for_the_wrong_channel_names_the_step() -> None:
    err = raises(WELCOME_YAML.replace("template: nudge-sms", "template: welcome-email"))
    assert str(err) == f"{SOURCE}: step 2 'nudge': field 'template': template 'welcome-email' is for email, but the step sends sms"


def test_invalid_inline_template_names_the_template_and_part() -> None:
    err = raises(WELCOME_YAML.replace("    text: \"Hi {{ contact.first_name or 'there' }}\"\n", ""))
    assert str(err) == f"{SOURCE}: field 'templates.welcome-email': an email template needs subject, html and text parts"
    err = raises(WELCOME_YAML.replace("    channel: sms\n", "    channel: fax\n"))
    assert err.problems[0].field == "templates.nudge-sms.channel"


def test_inline_template_that_is_not_a_mapping() -> None:
    err = raises(WELCOME_YAML + "  extra: just text\n")
    assert str(err) == f"{SOURCE}: field 'templates.extra': a template must be a mapping of parts"
    err = raises(without_inline(WELCOME_YAML) + "templates: [a, b]\n")
    assert err.problems[0].field == "templates"


def test_template_with_an_unknown_variable_fails_at_load_time() -> None:
    err = raises(WELCOME_YAML.replace("body: \"Hi {{ contact.first_name or 'there' }}", 'body: "Hi {{ contact.nickname }}'))
    assert len(err.problems) == 1
    assert str(err).startswith(f"{SOURCE}: step 2 'nudge': field 'template': template 'nudge-sms' body: ")
    assert "nickname" in str(err)


def test_template_with_an_unknown_filter_fails_with_a_definition_error() -> None:
    err = raises(WELCOME_YAML.replace("{{ contact.first_name or 'there' }}, reply", "{{ contact.first_name | shout }}, reply"))
    assert (
        str(err)
        == f"{SOURCE}: step 2 'nudge': field 'template': template 'nudge-sms' body: syntax error at line 1: No filter named 'shout'."
    )


def test_template_that_prints_none_for_a_sparse_contact_fails_at_load_time() -> None:
    err = raises(WELCOME_YAML.replace("Welcome, {{ contact.first_name or 'friend' }}", "Welcome {{ contact.first_name }}"))
    assert [p.describe() for p in err.problems] == [
        (
            "step 1 'hello': field 'template': template 'welcome-email' subject: prints None for contacts missing a field; "
            "add a fallback such as {{ contact.first_name or 'there' }}"
        )
    ]


def test_template_using_a_custom_field_without_a_fallback_fails_at_load_time() -> None:
    err = raises(WELCOME_YAML.replace(", reply STOP", " on {{ contact.fields.plan }}, reply STOP"))
    assert len(err.problems) == 1
    assert str(err).startswith(f"{SOURCE}: step 2 'nudge': field 'template': template 'nudge-sms' body: fails for contacts missing a field")
    assert "'plan'" in str(err)
    guarded = WELCOME_YAML.replace(", reply STOP", " on {{ contact.fields.plan | default('your plan') }}, reply STOP")
    assert "default('your plan')" in (parse_text(guarded, source=SOURCE).templates["nudge-sms"].body or "")


# --- templates from a folder --------------------------------------------------------------------


def write_templates(folder: Path) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "welcome-email.yaml").write_text(
        'channel: email\nsubject: "Hello"\nhtml: "<p>Hello {{ contact.first_name or \'there\' }}</p>"\ntext: "Hello"\n', encoding="utf-8"
    )
    (folder / "nudge-sms.yaml").write_text('channel: sms\nbody: "Folder nudge"\n', encoding="utf-8")


def without_inline(text: str) -> str:
    return text.split("templates:")[0]


def test_templates_are_looked_up_in_a_folder(tmp_path: Path) -> None:
    write_templates(tmp_path / "templates")
    bundle = parse_text(without_inline(WELCOME_YAML), source=SOURCE, lookup=folder_lookup(tmp_path / "templates"))
    assert bundle.templates["nudge-sms"].body == "Folder nudge"
    assert bundle.templates["welcome-email"].subject == "Hello"


def test_inline_templates_win_over_the_folder(tmp_path: Path) -> None:
    write_templates(tmp_path / "templates")
    bundle = parse_text(WELCOME_YAML, source=SOURCE, lookup=folder_lookup(tmp_path / "templates"))
    assert bundle.templates["nudge-sms"].body == "Hi {{ contact.first_name or 'there' }}, reply STOP to opt out"


def test_template_missing_from_the_folder(tmp_path: Path) -> None:
    (tmp_path / "templates").mkdir()
    err = raises(without_inline(WELCOME_YAML), lookup=folder_lookup(tmp_path / "templates"))
    assert [p.describe() for p in err.problems] == [
        "step 1 'hello': field 'template': template 'welcome-email' not found",
        "step 2 'nudge': field 'template': template 'nudge-sms' not found",
    ]


def test_folder_lookup_never_leaves_the_folder(tmp_path: Path) -> None:
    (tmp_path / "secret.yaml").write_text('channel: sms\nbody: "secret"\n', encoding="utf-8")
    (tmp_path / "templates").mkdir()
    lookup = folder_lookup(tmp_path / "templates")
    assert lookup("../secret") is None
    assert lookup("x/../../secret") is None
    text = without_inline(WELCOME_YAML).replace("template: nudge-sms", "template: x/../../secret")
    err = raises(text.replace("template: welcome-email", "template: x/../../secret"), lookup=lookup)
    assert all("not found" in p.message for p in err.problems)


def test_invalid_folder_template_names_its_file(tmp_path: Path) -> None:
    folder = tmp_path / "templates"
    folder.mkdir()
    (folder / "nudge-sms.yaml").write_text("channel: sms\n", encoding="utf-8")
    with pytest.raises(DefinitionError) as info:
        folder_lookup(folder)("nudge-sms")
    assert str(info.value).startswith(str(folder / "nudge-sms.yaml") + ": field 'templates.nudge-sms'")


def test_load_file_uses_the_templates_folder_beside_it(tmp_path: Path) -> None:
    write_templates(tmp_path / "templates")
    path = tmp_path / "welcome.yaml"
    path.write_text(without_inline(WELCOME_YAML), encoding="utf-8")
    bundle = load_file(path)
    assert bundle.templates["nudge-sms"] == TemplateSource(name="nudge-sms", channel="sms", body="Folder nudge")
    path.write_text(without_inline(WELCOME_YAML).replace("days: 2", "days: -2"), encoding="utf-8")
    with pytest.raises(DefinitionError, match=re.escape(f"{path}: step 2 'nudge'")):
        load_file(path)


def test_every_shipped_playbook_loads_with_its_templates() -> None:
    files = playbook_files()
    assert len(files) >= 10, files
    for path in files:
        bundle = load_file(path)
        assert set(bundle.definition.template_names()) <= set(bundle.templates), path


def test_bundle_from_document_does_not_mutate_its_input() -> None:
    doc = yaml.safe_load(WELCOME_YAML)
    before = json.dumps(doc, sort_keys=True)
    bundle_from_document(doc, source=SOURCE)
    assert json.dumps(doc, sort_keys=True) == before
