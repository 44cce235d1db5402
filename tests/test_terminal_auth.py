import pytest

from conftest import make_terminal_client

pytestmark = pytest.mark.django_db(databases="__all__")


def test_me_answers_the_terminal_and_its_tenant(api, tenant):
    response = api.get("/api/v1/me")
    assert response.status_code == 200
    body = response.json()
    assert body["tenant"]["id"] == str(tenant.id)
    assert body["tenant"]["currency"] == "MMK"
    assert body["tenant"]["currency_exponent"] == 0
    assert body["tenant"]["locales"] == ["en", "my"]
    assert body["terminal"]["id"] == str(api.terminal.id)


def test_spoofed_tenant_header_is_refused(api, other_tenant):
    response = api.get("/api/v1/me", HTTP_X_TENANT_ID=str(other_tenant.id))
    assert response.status_code == 403
    assert response["Content-Type"] == "application/problem+json"
    assert "X-Tenant-ID" in response.json()["detail"]


def test_matching_tenant_header_by_id_or_slug_is_accepted(api, tenant):
    assert api.get("/api/v1/me", HTTP_X_TENANT_ID=str(tenant.id)).status_code == 200
    assert api.get("/api/v1/me", HTTP_X_TENANT_ID=tenant.slug).status_code == 200


def test_missing_unknown_and_revoked_tokens_get_401(api, client):
    assert client.get("/api/v1/me").status_code == 401
    response = client.get("/api/v1/me", HTTP_AUTHORIZATION="Bearer pos_nothere_secret")
    assert response.status_code == 401
    assert response.json()["status"] == 401
    # a right prefix with a wrong secret
    prefix = api.token.split("_")[1]
    assert client.get("/api/v1/me", HTTP_AUTHORIZATION=f"Bearer pos_{prefix}_wrong").status_code == 401

    from modules.accounts.models import Terminal
    from pos.tenancy import all_tenants

    with all_tenants():
        Terminal.objects.filter(pk=api.terminal.id).update(revoked_at="2026-01-01T00:00:00Z")
    response = api.get("/api/v1/me")
    assert response.status_code == 401
    assert "revoked" in response.json()["detail"]


def test_token_is_stored_hashed_and_last_use_recorded(api):
    from modules.accounts.models import Terminal
    from pos.tenancy import all_tenants

    with all_tenants():
        row = Terminal.objects.get(pk=api.terminal.id)
    assert row.last_used_at is None
    secret = api.token.split("_", 2)[2]
    assert secret not in row.token_hash and len(row.token_hash) == 64
    api.get("/api/v1/me")
    with all_tenants():
        row.refresh_from_db()
    assert row.last_used_at is not None


def test_terminal_of_one_tenant_sees_only_its_tenant(tenant, other_tenant):
    mine = make_terminal_client(tenant)
    theirs = make_terminal_client(other_tenant)
    assert mine.get("/api/v1/me").json()["tenant"]["id"] == str(tenant.id)
    assert theirs.get("/api/v1/me").json()["tenant"]["id"] == str(other_tenant.id)
