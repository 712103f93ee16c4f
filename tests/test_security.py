"""Security (issue 10): API keys never logged or stored, security headers, CORS closed by default,
no pickle / eval / exec of untrusted data in our code, and the dependency audit's offline report."""

from __future__ import annotations

import ast
import importlib.util
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from assistant.api import create_app
from ingest.models import IngestReport
from ingest.settings import Settings
from tests.apiserver import ADMIN_KEY, READER_KEY, app_settings as _settings, start_server

REPO = Path(__file__).resolve().parent.parent
QUESTION = "Hoeveel vacatures stonden er eind tweede kwartaal 2025 open in regio Amersfoort?"
WRONG_KEY = "wrong-key-5555555555555555"
LLM_KEY = "llm-secret-key-7777777777777777"
SECRETS = [READER_KEY, ADMIN_KEY, WRONG_KEY, LLM_KEY]


@pytest.fixture
def empty_client(tmp_path: Path) -> Iterator[TestClient]:
    """An app without an index (no model load): enough for headers and CORS."""
    settings = _settings(Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus"), tmp_path)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        yield client


def _requests_with_keys(client: Any) -> list[int]:
    """Every way a key travels: bearer, X-API-Key, wrong, reader on admin, admin, a stream, feedback."""
    statuses = []
    reader = {"X-API-Key": READER_KEY}
    bearer_admin = {"Authorization": f"Bearer {ADMIN_KEY}"}
    answer = client.post("/v1/ask", json={"question": QUESTION}, headers={"Authorization": f"Bearer {READER_KEY}"})
    statuses.append(answer.status_code)
    statuses.append(client.post("/v1/ask", json={"question": QUESTION}, headers={"X-API-Key": WRONG_KEY}).status_code)
    statuses.append(client.post("/v1/ask", json={"question": QUESTION},
                                headers={"X-API-Key": READER_KEY, "Authorization": f"Bearer {WRONG_KEY}"}).status_code)
    statuses.append(client.get("/v1/audit", headers=reader).status_code)
    statuses.append(client.get("/v1/audit", headers=bearer_admin).status_code)
    statuses.append(client.get("/v1/jobs", headers=bearer_admin).status_code)
    statuses.append(client.post("/v1/ask/stream", json={"question": QUESTION}, headers=reader).status_code)
    # a key pasted into a question or a feedback comment is the user's text, but still never a secret we log
    statuses.append(client.post("/v1/feedback", headers=reader, json={
        "answer_id": answer.json().get("id", "x"), "rating": "down", "reason": "anders", "comment": "ok"}).status_code)
    statuses.append(client.get(f"/v1/sources?key={WRONG_KEY[:4]}", headers=reader).status_code)
    return statuses


def test_api_keys_are_never_logged_in_process(
    built_index: tuple[Settings, IngestReport], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    settings = _settings(built_index[0], tmp_path, llm_api_key=LLM_KEY, rate_limit_per_minute=0)
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        deadline = time.monotonic() + 90
        while client.get("/readyz").status_code != 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        statuses = _requests_with_keys(client)
        audit = client.get("/v1/audit", headers={"X-API-Key": ADMIN_KEY}).text
    assert statuses[:6] == [200, 401, 401, 403, 200, 200], statuses
    logged = caplog.text + "".join(str(r.args) for r in caplog.records)
    assert "crm" in audit  # the audit names the key ...
    for secret in SECRETS:
        assert secret not in logged  # ... but no key is in any log record
        assert secret not in audit
    database = (tmp_path / "audit.db").read_bytes()
    assert all(secret.encode() not in database for secret in SECRETS)
    # the settings object itself never shows the model key
    assert LLM_KEY not in repr(settings) and LLM_KEY not in str(settings.model_dump())


def test_api_keys_are_never_in_the_server_log(
    built_index: tuple[Settings, IngestReport], tmp_path: Path
) -> None:
    """A real `marktwijzer serve`: its whole log, uvicorn's access log included."""
    server = start_server(built_index[0], tmp_path / "srv", MARKTWIJZER_RATE_LIMIT_PER_MINUTE="0",
                          MARKTWIJZER_LLM_API_KEY=LLM_KEY)
    try:
        with server.client(key=None) as client:
            statuses = _requests_with_keys(client)
        assert statuses[0] == 200 and statuses[1] == 401
    finally:
        server.stop()
    log = server.log()
    assert "/v1/ask" in log or "POST" in log or "assistant" in log, log[-2000:]
    for secret in SECRETS:
        assert secret not in log


def test_security_headers_on_every_response(empty_client: TestClient) -> None:
    responses = [
        empty_client.get("/healthz"),
        empty_client.get("/readyz"),  # 503 error JSON
        empty_client.post("/v1/ask", json={"question": "x"}),  # 401
        empty_client.get("/nope"),  # 404
        empty_client.get("/metrics"),
        empty_client.get("/openapi.json"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        csp = response.headers["content-security-policy"]
        assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp
        assert "access-control-allow-origin" not in response.headers
    docs = empty_client.get("/docs")  # the Swagger page is HTML: nosniff etc., but not the data CSP
    assert docs.status_code == 200 and docs.headers["x-frame-options"] == "DENY"
    assert "default-src 'none'" not in docs.headers.get("content-security-policy", "")


def test_cors_is_closed_by_default(empty_client: TestClient) -> None:
    preflight = empty_client.options("/v1/ask", headers={
        "Origin": "https://evil.example", "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "x-api-key,content-type"})
    assert "access-control-allow-origin" not in preflight.headers
    simple = empty_client.get("/healthz", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in simple.headers


def test_cors_opens_only_for_listed_origins(tmp_path: Path) -> None:
    base = Settings(_env_file=None, data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus")
    settings = _settings(base, tmp_path, cors_origins="https://intranet.uwv.example, https://crm.uwv.example")
    with TestClient(create_app(settings), raise_server_exceptions=False) as client:
        allowed = client.options("/v1/ask", headers={
            "Origin": "https://crm.uwv.example", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key,content-type"})
        assert allowed.status_code == 200
        assert allowed.headers["access-control-allow-origin"] == "https://crm.uwv.example"
        assert "access-control-allow-credentials" not in allowed.headers
        assert allowed.headers["x-content-type-options"] == "nosniff"
        other = client.options("/v1/ask", headers={
            "Origin": "https://evil.example", "Access-Control-Request-Method": "POST"})
        assert "access-control-allow-origin" not in other.headers
        simple = client.get("/healthz", headers={"Origin": "https://intranet.uwv.example"})
        assert simple.headers["access-control-allow-origin"] == "https://intranet.uwv.example"


def test_cors_setting_is_empty_by_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MARKTWIJZER_CORS_ORIGINS", raising=False)
    assert Settings(_env_file=None).cors_origins == ""
    monkeypatch.setenv("MARKTWIJZER_CORS_ORIGINS", "https://a.example")
    assert Settings(_env_file=None).cors_origins == "https://a.example"


# -- no pickle / eval / exec of untrusted data --------------------------------------------------

FORBIDDEN_MODULES = {"pickle", "cPickle", "dill", "marshal", "shelve", "cloudpickle", "joblib"}
FORBIDDEN_CALLS = {"eval", "exec", "compile", "__import__"}


def _python_files() -> list[Path]:
    return sorted(p for package in ("assistant", "ingest", "ui") for p in (REPO / package).rglob("*.py"))


def _violations(path: Path, text: str | None = None) -> list[str]:
    tree = ast.parse(text if text is not None else path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    where = path.name if text is not None else path.relative_to(REPO)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [f"{where}:{node.lineno} import {a.name}" for a in node.names if a.name.split(".")[0] in FORBIDDEN_MODULES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in FORBIDDEN_MODULES:
            found.append(f"{where}:{node.lineno} from {node.module} import")
        elif isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if isinstance(func, ast.Name) and name in FORBIDDEN_CALLS:
                found.append(f"{where}:{node.lineno} {name}()")
            if name in {"load", "loads", "unsafe_load", "full_load"} and isinstance(func, ast.Attribute):
                owner = ast.unparse(func.value)
                if owner in {"yaml", "torch", "pickle", "marshal", "dill", "joblib"}:
                    safe = any(k.arg in {"Loader", "weights_only"} and ast.unparse(k.value) in {"yaml.SafeLoader", "True"}
                               for k in node.keywords)
                    if not safe:
                        found.append(f"{where}:{node.lineno} {owner}.{name}()")
                if owner in {"np", "numpy"} and name == "load":
                    pickle_kw = [k for k in node.keywords if k.arg == "allow_pickle"]
                    if not pickle_kw or ast.unparse(pickle_kw[0].value) != "False":
                        found.append(f"{where}:{node.lineno} {owner}.load() without allow_pickle=False")
            if name in {"read_pickle", "from_pickle"}:
                found.append(f"{where}:{node.lineno} {name}()")
    return found


def test_no_pickle_eval_or_exec_in_our_code() -> None:
    files = _python_files()
    assert len(files) > 30
    problems = [v for path in files for v in _violations(path)]
    assert problems == []


def test_the_scan_would_catch_them() -> None:
    sample = ("import pickle\nfrom marshal import loads\nimport numpy as np\nimport yaml\n"
              "x = eval('1')\nexec('y=1')\nnp.load('a.npy')\nnp.load('a', allow_pickle=True)\nyaml.load('a')\n"
              "np.load('b', allow_pickle=False)\nyaml.load('c', Loader=yaml.SafeLoader)\n")
    assert len(_violations(Path("probe.py"), sample)) == 7


# -- dependency audit ----------------------------------------------------------------------------


def _audit_module() -> Any:
    spec = importlib.util.spec_from_file_location("dependency_audit", REPO / "scripts" / "dependency_audit.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["dependency_audit"] = module
    spec.loader.exec_module(module)
    return module


def test_dependency_audit_offline_is_a_clear_warning_not_a_failure() -> None:
    audit = _audit_module()
    skipped = {"dependencies": [
        {"name": n, "skip_reason": f"Dependency not found on PyPI and could not be audited: {n} (1.0)"} for n in "abc"]}
    outcome = audit.summarise(0, json.dumps(skipped), "No known vulnerabilities found")
    assert (outcome.status, outcome.exit_code) == ("unreachable", 0)
    assert outcome.message.startswith("WARNING: dependency audit NOT done")
    refused = audit.summarise(1, "", "requests.exceptions.ConnectionError: Max retries exceeded with url: /pypi/x/json")
    assert (refused.status, refused.exit_code) == ("unreachable", 0)


def test_dependency_audit_reports_vulnerabilities_and_clean_runs() -> None:
    audit = _audit_module()
    found = {"dependencies": [
        {"name": "a", "version": "1.0", "vulns": [{"id": "PYSEC-1", "fix_versions": ["1.1"]}]},
        {"name": "b", "version": "2.0", "vulns": []}]}
    outcome = audit.summarise(1, json.dumps(found), "")
    assert (outcome.status, outcome.exit_code) == ("found", 1)
    assert outcome.vulnerable == ["a 1.0: PYSEC-1 (fix: 1.1)"]
    clean = audit.summarise(0, json.dumps({"dependencies": [{"name": "b", "version": "2.0", "vulns": []}]}), "")
    assert (clean.status, clean.exit_code) == ("ok", 0)
    assert audit.summarise(2, "", "usage: pip-audit ...").exit_code == 2


def test_dependency_audit_script_against_a_fake_offline_pip_audit(tmp_path: Path) -> None:
    """The wrapper end to end, with a stand-in for pip-audit that behaves as it does offline."""
    fake = tmp_path / "fake_pip_audit.py"
    fake.write_text(
        "import json, sys\n"
        "print(json.dumps({'dependencies': [{'name': 'x', 'skip_reason': 'Dependency not found on PyPI and could not be audited: x (1)'}], 'fixes': []}))\n"
        "print('No known vulnerabilities found', file=sys.stderr)\n"
    )
    import subprocess

    run = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "dependency_audit.py"), "-r", str(REPO / "requirements.txt"),
         "--pip-audit", f"{sys.executable} {fake}"],
        capture_output=True, text=True, timeout=60, check=False,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WARNING: dependency audit NOT done" in run.stdout


def test_pip_audit_is_pinned_and_make_audit_exists() -> None:
    requirements = (REPO / "requirements.txt").read_text()
    assert "\npip-audit==" in requirements
    makefile = (REPO / "Makefile").read_text()
    assert "\naudit: setup\n" in makefile and "scripts/dependency_audit.py" in makefile
