from django.urls import path

from . import apis

urlpatterns = [
    path("auth/register/", apis.RegisterApi.as_view(), name="register"),
    path("auth/login/", apis.LoginApi.as_view(), name="login"),
    path("auth/refresh/", apis.RefreshApi.as_view(), name="refresh"),
    path("auth/logout/", apis.LogoutApi.as_view(), name="logout"),
    path("users/me/", apis.MeApi.as_view(), name="me"),
    path("users/", apis.UserListApi.as_view(), name="user-list"),
    path("users/<uuid:user_id>/roles/", apis.UserRolesApi.as_view(), name="user-roles"),
    path("users/<uuid:user_id>/security-events/", apis.UserSecurityEventsApi.as_view(), name="user-security-events"),
]
