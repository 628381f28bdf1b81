"""Superset safety of issue #8, against a real Superset 6.1 on 127.0.0.1:

- the REST installer never prints or logs the password, the access token, the CSRF token or
  the session cookie it obtained — not on stdout, stderr or Python logging at DEBUG, neither
  in-process nor as the ``saas-retention superset install`` command; a wrong password is a
  clear error without a traceback that does not echo it either;
- the installed dashboards are not public: anonymous requests for them, their charts' data
  and the dashboard pages are refused, the Public role got no permission from our
  installers, and the bundle sets nothing that opens a dashboard to anonymous users.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import re
import sqlite3
import subprocess
import sys
import urllib.error
import urllib.request

import pytest

pytestmark = pytest.mark.superset

if importlib.util.find_spec("superset") is None:
    pytest.skip("Apache Superset is not installed here (pip install 'saas-retention[superset]'; "
                "nox -s superset runs these tests)", allow_module_level=True)

from superset_server import PASSWORD_VAR, running_superset  # noqa: E402

from saas_retention.superset_plugin.bundle import demo_bundle  # noqa: E402
from saas_retention.superset_plugin.install import (  # noqa: E402
    InstallError,
    RestClient,
    install_rest,
)

TIMINGS: dict[str, float] = {}
JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")


def public_permissions(server) -> list[tuple[str, str]]:
    con = sqlite3.connect(server.folder / "superset.db")
    try:
        return con.execute("""
            select p.name, v.name
            from ab_role r
            join ab_permission_view_role pvr on pvr.role_id = r.id
            join ab_permission_view pv on pv.id = pvr.permission_view_id
            join ab_permission p on p.id = pv.permission_id
            join ab_view_menu v on v.id = pv.view_menu_id
            where r.name = 'Public'
            order by 1, 2""").fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_superset(tmp_path_factory.mktemp("superset_security"), TIMINGS,
                          "security_") as srv:
        srv.public_before = public_permissions(srv)
        srv.superset_cli("saas-retention", "import-demo", "--duckdb", str(srv.database))
        yield srv


def _delete_a_chart(server) -> None:
    """So the next install imports (a chart created, its dashboard updated): the write path,
    with the CSRF token and the session cookie, is exercised, not only the reads."""
    api = server.api()
    (chart,) = [c for c in api.paged("/api/v1/chart/", ["id", "slice_name"])
                if c["slice_name"] == "Paying customers by plan"]
    status, _body = api._call("DELETE", f"/api/v1/chart/{chart['id']}")
    assert status == 200


def _secrets_of(client: RestClient) -> dict[str, str]:
    found = {"access token": client._token, "CSRF token": client._csrf}
    for handler in client._opener.handlers:
        jar = getattr(handler, "cookiejar", None)
        for cookie in jar or ():
            found[f"cookie {cookie.name}"] = cookie.value
    assert len(found) >= 3, found  # the session cookie is there to be looked for
    return found


# --- the REST installer keeps its secrets ------------------------------------------------------


def test_rest_install_in_process_logs_and_prints_no_secret(server, caplog, capsys):
    _delete_a_chart(server)
    caplog.set_level(logging.DEBUG)  # every logger, including urllib's and anything we add
    client = RestClient(server.url, "admin", server.password)
    report = install_rest(server.url, "admin", server.password, "saas_retention_demo",
                          client=client)
    assert "chart Paying customers by plan" in report.created  # it did import
    text = "\n".join(report.lines())
    print(text)
    captured = capsys.readouterr()
    seen = "\n".join([captured.out, captured.err, caplog.text,
                      *(r.getMessage() for r in caplog.records), repr(report)])
    for what, value in {"password": server.password, **_secrets_of(client)}.items():
        assert value and value not in seen, f"the {what} appears in the output"
    assert not JWT.search(seen)


def test_rest_install_command_prints_and_logs_no_secret(server):
    """The command as users run it, with Python logging at DEBUG on the root logger."""
    _delete_a_chart(server)
    code = ("import logging, sys; logging.basicConfig(level=logging.DEBUG); "
            "from saas_retention.cli import main; sys.argv = ['saas-retention'] + sys.argv[1:]; "
            "main()")
    env = {**os.environ, PASSWORD_VAR: server.password}
    done = subprocess.run(
        [sys.executable, "-c", code, "superset", "install", "--url", server.url, "--username",
         "admin", "--password-env", PASSWORD_VAR, "--database", "saas_retention_demo"],
        env=env, capture_output=True, text=True)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    assert "created 1 (1 chart): chart Paying customers by plan" in done.stdout, out
    assert server.password not in out
    assert not JWT.search(out), "a token appears in the output"
    assert "session=" not in out.lower() and "csrf" not in out.lower()


def test_wrong_password_is_a_clear_error_that_does_not_echo_it(server, caplog):
    wrong = "not-the-password-" + server.password[::-1]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(InstallError) as info:
        install_rest(server.url, "admin", wrong, "saas_retention_demo")
    message = str(info.value)
    assert message == (f"login to {server.url} as 'admin' failed (HTTP 401); check --username "
                       "and the password variable")
    assert wrong not in caplog.text

    done = server.rest_install_run(password=wrong)
    out = done.stdout + done.stderr
    assert done.returncode == InstallError.exit_code
    assert "Traceback" not in out
    assert f"error: login to {server.url} as 'admin' failed (HTTP 401)" in done.stderr
    assert wrong not in out and server.password not in out


def test_unknown_user_and_unset_variable_are_clear_errors(server):
    done = server.rest_install_run(username="nobody")
    assert done.returncode == InstallError.exit_code and "Traceback" not in done.stderr
    assert "as 'nobody' failed (HTTP 401)" in done.stderr
    assert server.password not in done.stdout + done.stderr
    env = {k: v for k, v in os.environ.items() if k != PASSWORD_VAR}
    done = subprocess.run(
        [sys.executable, "-m", "saas_retention.cli", "superset", "install", "--url",
         server.url, "--username", "admin", "--password-env", PASSWORD_VAR, "--database",
         "saas_retention_demo"], env=env, capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert f"environment variable {PASSWORD_VAR} is not set or empty" in done.stderr


# --- not public by default -----------------------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


def _anonymous(url: str, data: bytes | None = None) -> tuple[int, str, str]:
    """(status, Location header, body) of a request without any credentials."""
    opener = urllib.request.build_opener(_NoRedirect)
    request = urllib.request.Request(url, data=data, headers={
        "Accept": "application/json", **({"Content-Type": "application/json"} if data else {})})
    try:
        with opener.open(request, timeout=60) as response:
            return response.status, response.headers.get("Location", ""), response.read(
                ).decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Location", ""), exc.read().decode("utf-8", "replace")


def test_installed_dashboards_are_refused_to_anonymous_users(server):
    # the module's server has every dashboard from the Superset CLI's import-demo, and the
    # REST installs of the tests above re-created a chart and updated its dashboard
    api = server.api()
    boards = api.paged("/api/v1/dashboard/", ["id", "slug", "dashboard_title"])
    ours = [b for b in boards if (b["slug"] or "").startswith("saas-retention-demo-")]
    assert len(ours) >= 6
    datasets = api.paged("/api/v1/dataset/", ["id", "table_name"])
    for board in ours:
        for path in (f"/api/v1/dashboard/{board['id']}", f"/api/v1/dashboard/{board['slug']}",
                     f"/api/v1/dashboard/{board['id']}/charts",
                     f"/api/v1/dashboard/{board['id']}/datasets"):
            status, _location, body = _anonymous(server.url + path)
            assert status == 401, (path, status, body[:300])
            assert board["dashboard_title"] not in body
        status, location, body = _anonymous(f"{server.url}/superset/dashboard/{board['slug']}/")
        assert status in (301, 302) and "/login/" in location, (status, location)
        assert board["dashboard_title"] not in body
    status, _l, body = _anonymous(server.url + "/api/v1/dashboard/")
    assert status == 401, body[:300]
    (retention,) = [d for d in datasets if d["table_name"] == "retention"]
    status, _l, body = _anonymous(server.url + "/api/v1/chart/data", json.dumps({
        "datasource": {"id": retention["id"], "type": "table"},
        "queries": [{"columns": [], "metrics": ["count"], "row_limit": 1}],
        "result_format": "json", "result_type": "full"}).encode())
    assert status == 401, body[:300]


def test_installers_give_the_public_role_nothing(server):
    """After every installer that wrote here: the CLI's import-demo (the fixture), and the
    REST installer in-process and as the command (each re-created a chart). An installer run
    that finds everything up to date writes nothing, so more runs would prove nothing more."""
    assert server.public_before == []  # Superset's default: an empty Public role
    assert public_permissions(server) == server.public_before
    con = sqlite3.connect(server.folder / "superset.db")
    try:
        # dashboard-level roles (DASHBOARD_RBAC) would grant access beside the data's
        assert con.execute("select count(*) from dashboard_roles").fetchone() == (0,)
    finally:
        con.close()
    config = (server.folder / "superset_config.py").read_text()
    for setting in ("PUBLIC_ROLE_LIKE", "AUTH_ROLE_PUBLIC", "EMBEDDED_SUPERSET", "GUEST_"):
        assert setting not in config  # the demo's config opens nothing to anonymous users


def test_the_bundle_sets_nothing_that_publishes_to_anonymous_users(server):
    bundle = demo_bundle(server.database)
    for kind, path, content in bundle.objects():
        text = json.dumps(content, default=str)
        assert '"Public"' not in text and "PUBLIC_ROLE" not in text, path
        if kind == "dashboards":
            # `published` is Superset's draft/published switch for users who can read the
            # data (listing), not access for anonymous users: nothing else may be granted
            assert not {"roles", "embedded", "owners", "is_managed_externally"} & set(content)
            assert "allowed_domains" not in text and "guest" not in text.lower(), path
    for text in bundle.texts().values():
        assert "Public" not in text and "password" not in text.lower()
