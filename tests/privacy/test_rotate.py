"""Key rotation: every contacts row re-sealed under the new key in one transaction (DuckDB and
PostgreSQL), key ids per row so a mixed state shows, audited, refused when it cannot be whole."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
import typer
from typer.testing import CliRunner

from careops.errors import ConfigError, Conflict, InvalidInput
from careops.privacy import rotate, service
from careops.privacy.contacts import FIELDS, ContactsKey
from careops.privacy.data_cli import rotate_key_command
from careops.service import Actor, Ops
from careops.warehouse import warehouse
from tests.privacy.conftest import PEOPLE, new_key, use_settings

SENDER = Actor("sms-gateway", "app", scopes=("patients.contacts",))


def rows(url: str) -> list[dict]:
    with warehouse(url, read_only=True) as con:
        return con.table("contacts").to_pyarrow().to_pylist()


def test_rotation_reseals_every_row_and_reads_continue_under_the_new_key(hospital, monkeypatch):
    old, new_secret = ContactsKey(hospital.contacts_key), new_key()
    new = ContactsKey(new_secret)
    before = rows(hospital.url)
    plain_before = [{f: old.open(f, r[f]) if r[f] else None for f in FIELDS} for r in before]

    done = rotate.rotate_key(Ops.open(), new_secret)

    assert (done.resealed, done.already) == (len(before), 0)
    assert (done.old_key_id, done.new_key_id) == (old.key_id, new.key_id)
    after = rows(hospital.url)
    assert {r["key_id"] for r in after} == {new.key_id}
    key = lambda r: (r["load_id"], r["record_id"])  # noqa: E731
    by = {key(r): r for r in after}
    for r, plain in zip(before, plain_before, strict=True):
        a = by[key(r)]
        assert {f: new.open(f, a[f]) if a[f] else None for f in FIELDS} == plain
        assert all(a[f] != r[f] for f in FIELDS if r[f])  # new ciphertext, not a copy
    with pytest.raises(InvalidInput):  # the old key opens nothing any more
        old.open("phone", next(r["phone"] for r in after if r["phone"]))
    # until the setting changes, reads say why they fail; afterwards they work
    with pytest.raises(Conflict, match=new.key_id):
        service.contact_of(Ops.open(), "U1")
    use_settings(monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=new_secret)
    assert service.reveal(Ops.open(actor=SENDER), "U1", "核对").phone == PEOPLE["U1"]["phone"]
    usage = rotate.key_usage(Ops.open())
    assert usage.rows == {new.key_id: len(after)} and not usage.mixed
    # audited, without any key or value
    ops = Ops.open()
    with ops.state.connect() as conn:
        audit = conn.execute(
            sa.text("SELECT detail FROM audit_log WHERE action = 'privacy.rotate_key'")
        ).scalar_one()
    assert str(len(before)) in str(audit) and new.key_id in str(audit)
    assert new_secret not in str(audit) and hospital.contacts_key not in str(audit)


def test_running_it_again_changes_nothing(hospital):
    secret = new_key()
    rotate.rotate_key(Ops.open(), secret)
    first = rows(hospital.url)
    again = rotate.rotate_key(Ops.open(), secret)  # configured key still the old one
    assert (again.resealed, again.already) == (0, len(first))
    assert rows(hospital.url) == first


def test_a_failure_midway_leaves_every_row_under_the_old_key(hospital, monkeypatch):
    before = rows(hospital.url)

    def broken(self, old_key_id, new_rows):
        original(self, old_key_id, new_rows)  # rows deleted and re-inserted, then…
        raise RuntimeError("power cut")

    store = rotate._DuckDB if hospital.url.startswith("duckdb") else rotate._Postgres
    original = store.replace
    monkeypatch.setattr(store, "replace", broken)
    with pytest.raises(RuntimeError, match="power cut"):
        rotate.rotate_key(Ops.open(), new_key())
    assert sorted(rows(hospital.url), key=str) == sorted(before, key=str)


def test_rows_under_an_unknown_key_stop_the_rotation_before_any_change(hospital, monkeypatch):
    stranger = new_key()
    use_settings(monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=stranger)
    from tests.privacy.conftest import later, load

    load(hospital.url, [later(hospital.folder / "later", U1="13700001111")])  # mixed now
    use_settings(monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=hospital.contacts_key)
    usage = rotate.key_usage(Ops.open())
    assert usage.mixed and ContactsKey(stranger).key_id in usage.rows
    before = rows(hospital.url)
    with pytest.raises(Conflict, match=ContactsKey(stranger).key_id):
        rotate.rotate_key(Ops.open(), new_key())
    assert rows(hospital.url) == before


def test_bad_requests_are_refused(hospital, monkeypatch):
    with pytest.raises(InvalidInput, match="current key"):
        rotate.rotate_key(Ops.open(), hospital.contacts_key)
    for bad in ("", "short", "not base64!"):
        with pytest.raises(ConfigError):
            rotate.rotate_key(Ops.open(), bad)
    with pytest.raises(Exception, match=r"users\.manage"):
        rotate.rotate_key(Ops.open(actor=Actor("o", "user", roles=("operations",))), new_key())
    monkeypatch.delenv("CAREOPS_PRIVACY__CONTACTS_KEY")
    use_settings(monkeypatch)
    with pytest.raises(ConfigError, match="current key"):
        rotate.rotate_key(Ops.open(), new_key())


def _cli() -> typer.Typer:
    app = typer.Typer()
    app.command("rotate-key")(rotate_key_command)
    app.command("other")(lambda: None)  # two commands: Typer keeps the subcommand names
    return app


def test_the_command_reads_the_key_from_the_environment_or_stdin(tmp_path, monkeypatch):
    from tests.privacy.conftest import PSEUDONYM, load, write_files

    url = f"duckdb:///{tmp_path / 'w.duckdb'}"
    key = new_key()
    use_settings(
        monkeypatch,
        CAREOPS_WAREHOUSE=url,
        CAREOPS_PRIVACY__CONTACTS_KEY=key,
        CAREOPS_PRIVACY__PSEUDONYM_KEY=PSEUDONYM,
    )
    load(url, write_files(tmp_path / "files"))
    runner = CliRunner()
    new = new_key()
    r = runner.invoke(
        _cli(),
        ["rotate-key", "--new-key-env", "NEW_CONTACTS_KEY", "--json"],
        env={"NEW_CONTACTS_KEY": new},
    )
    assert r.exit_code == 0, r.output
    assert ContactsKey(new).key_id in r.output and new not in r.output
    use_settings(monkeypatch, CAREOPS_PRIVACY__CONTACTS_KEY=new)
    newer = new_key()
    r = runner.invoke(_cli(), ["rotate-key", "--new-key-stdin"], input=newer + "\n")
    assert r.exit_code == 0, r.output
    assert {x["key_id"] for x in rows(url)} == {ContactsKey(newer).key_id}
    r = runner.invoke(_cli(), ["rotate-key", "--new-key-env", "NOT_SET_ANYWHERE"])
    assert isinstance(r.exception, ConfigError) and "NOT_SET_ANYWHERE" in str(r.exception)
    r = runner.invoke(_cli(), ["rotate-key", "--new-key-env", "X", "--new-key-stdin"])
    assert isinstance(r.exception, ConfigError)
