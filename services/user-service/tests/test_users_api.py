"""me, settings, and the admin-only user list and role changes."""

import pytest

from apps.accounts.models import User
from hdms_platform.auth.tokens import decode_access_token

pytestmark = pytest.mark.django_db


@pytest.fixture
def signed_in(api, make_user, login, bearer):
    def sign_in(email: str, roles=("customer",)):
        user = make_user(email, roles=roles)
        tokens = login(email, address=f"10.5.{len(email)}.1").json()
        return user, bearer(tokens["access"]), tokens

    return sign_in


def test_me_reads_and_merges_settings(signed_in):
    user, client, _ = signed_in("alice@example.com")
    assert client.get("/api/v1/users/me/").json()["email"] == "alice@example.com"
    client.patch("/api/v1/users/me/", {"settings": {"theme": "dark", "lang": "en"}}, format="json")
    response = client.patch("/api/v1/users/me/", {"settings": {"lang": None, "tz": "UTC"}}, format="json")
    assert response.status_code == 200 and response.json()["settings"] == {"theme": "dark", "tz": "UTC"}
    user.refresh_from_db()
    assert user.settings == {"theme": "dark", "tz": "UTC"}


@pytest.mark.parametrize("payload", [{"settings": "dark"}, {"settings": {"blob": "x" * 20000}}, {}])
def test_me_rejects_bad_settings_and_keeps_the_old_ones(signed_in, payload):
    user, client, _ = signed_in("alice@example.com")
    client.patch("/api/v1/users/me/", {"settings": {"theme": "dark"}}, format="json")
    response = client.patch("/api/v1/users/me/", payload, format="json")
    assert response.status_code == 400 and "settings" in response.json()["error"]["fields"]
    user.refresh_from_db()
    assert user.settings == {"theme": "dark"}


def test_every_endpoint_but_register_and_login_needs_a_token(api):
    for method, url in [
        ("get", "/api/v1/users/me/"),
        ("patch", "/api/v1/users/me/"),
        ("get", "/api/v1/users/"),
        ("post", "/api/v1/auth/logout/"),
        ("put", f"/api/v1/users/{User().id}/roles/"),
    ]:
        response = getattr(api, method)(url, {}, format="json")
        assert response.status_code == 401, (method, url)
        assert response.json()["error"]["code"] in ("not_authenticated", "token_invalid")


def test_customers_and_agents_cannot_use_admin_endpoints(signed_in):
    target, _, _ = signed_in("bob@example.com")
    for email, roles in [("c@example.com", ("customer",)), ("agent@example.com", ("agent",))]:
        _, client, _ = signed_in(email, roles)
        assert client.get("/api/v1/users/").status_code == 403
        assert client.put(f"/api/v1/users/{target.id}/roles/", {"roles": ["admin"]}, format="json").status_code == 403
    target.refresh_from_db()
    assert target.roles == ["customer"]


def test_admin_lists_users_and_sets_roles_which_reach_the_next_token(api, signed_in):
    target, _, target_tokens = signed_in("bob@example.com")
    _, admin, _ = signed_in("root@example.com", ("admin",))
    listing = admin.get("/api/v1/users/", {"role": "customer"}).json()
    assert listing["count"] == 1 and listing["results"][0]["email"] == "bob@example.com"

    response = admin.put(f"/api/v1/users/{target.id}/roles/", {"roles": ["agent"]}, format="json")
    assert response.status_code == 200 and response.json()["roles"] == ["agent"]
    refreshed = api.post("/api/v1/auth/refresh/", {"refresh": target_tokens["refresh"]}, format="json").json()
    assert decode_access_token(refreshed["access"])["roles"] == ["agent"]


def test_admin_role_changes_validate_input(signed_in):
    admin_user, admin, _ = signed_in("root@example.com", ("admin",))
    target, _, _ = signed_in("bob@example.com")
    assert admin.put(f"/api/v1/users/{target.id}/roles/", {"roles": ["wizard"]}, format="json").status_code == 400
    assert admin.put(f"/api/v1/users/{target.id}/roles/", {"roles": []}, format="json").status_code == 400
    assert admin.put(f"/api/v1/users/{User().id}/roles/", {"roles": ["agent"]}, format="json").status_code == 404
    response = admin.put(f"/api/v1/users/{admin_user.id}/roles/", {"roles": ["agent"]}, format="json")
    assert response.status_code == 400 and "roles" in response.json()["error"]["fields"]


def test_the_merged_settings_are_capped_not_only_each_patch(bearer, make_user, login, settings):
    settings.USER_SETTINGS_MAX_BYTES = 1000
    make_user("alice@example.com")
    client = bearer(login("alice@example.com").json()["access"])
    for n in range(3):
        assert client.patch("/api/v1/users/me/", {"settings": {f"k{n}": "x" * 300}}, format="json").status_code == 200
    refused = client.patch("/api/v1/users/me/", {"settings": {"k3": "x" * 300}}, format="json")
    assert refused.status_code == 400 and "settings" in refused.json()["error"]["fields"]
    assert sorted(client.get("/api/v1/users/me/").json()["settings"]) == ["k0", "k1", "k2"]  # nothing lost
