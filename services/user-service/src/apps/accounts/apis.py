"""HTTP API of the user-service: one view per operation, nested input/output serializers."""

from __future__ import annotations

import json

from django.conf import settings
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from hdms_platform import errors
from hdms_platform.auth import ratelimit
from hdms_platform.auth.tokens import ROLES, IsAdmin
from hdms_platform.web.pagination import Pagination
from hdms_platform.web.proxies import client_address

from . import selectors, services


class UserOutput(serializers.Serializer):
    id = serializers.UUIDField()
    email = serializers.EmailField()
    provider = serializers.CharField()
    roles = serializers.ListField(child=serializers.CharField())
    settings = serializers.DictField()
    date_joined = serializers.DateTimeField()


class TokensOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()
    token_type = serializers.CharField(default="Bearer")
    expires_in = serializers.IntegerField()
    user = UserOutput()
    device = serializers.CharField(
        required=False,
        help_text="Sign-in only: send it back as `device` with this client's next sign-ins (not locked out by others' wrong passwords).",
    )


def _tokens(issued: services.IssuedTokens) -> dict:
    return TokensOutput(
        {
            "access": issued.access,
            "refresh": issued.refresh,
            "token_type": "Bearer",
            "expires_in": settings.ACCESS_TOKEN_SECONDS,
            "user": issued.user,
            **({"device": issued.device} if issued.device else {}),
        }
    ).data


class Credentials(serializers.Serializer):
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(max_length=128, trim_whitespace=False)


class LoginInput(Credentials):
    device = serializers.CharField(
        max_length=500, required=False, default="", help_text="The `device` of this client's last sign-in, if any."
    )


class PublicApi(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]

    def get_authenticate_header(self, request) -> str:
        return 'Bearer realm="hdms"'  # so refused credentials answer 401, not DRF's 403 for auth-less views


class RegisterApi(PublicApi):
    class RegisterOutput(serializers.Serializer):
        status = serializers.CharField()
        message = serializers.CharField()

    @extend_schema(request=Credentials, responses={202: RegisterOutput}, summary="Create a customer account")
    def post(self, request):
        data = Credentials(data=request.data)
        data.is_valid(raise_exception=True)
        limit = ratelimit.Limit("register-address", settings.LOGIN_MAX_ATTEMPTS_PER_ADDRESS, settings.LOGIN_RATE_WINDOW_SECONDS)
        address = client_address(request)
        if ratelimit.over(limit, address):
            raise errors.RateLimited("Too many registrations from this address.", retry_after=limit.retry_after())
        services.user_register(**data.validated_data)
        # The same answer whether or not the address already had an account (no enumeration).
        return Response(
            {"status": "accepted", "message": "If this address can be registered, it now is: sign in with it."},
            status=status.HTTP_202_ACCEPTED,
        )


class LoginApi(PublicApi):
    @extend_schema(request=LoginInput, responses={200: TokensOutput}, summary="Sign in: access + refresh token")
    def post(self, request):
        data = LoginInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.user_login(
            **data.validated_data, address=client_address(request), user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
        return Response(_tokens(issued))


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(max_length=200)


class RefreshApi(PublicApi):
    """The refresh token is the credential here (no access token: it may have expired)."""

    @extend_schema(request=RefreshInput, responses={200: TokensOutput}, summary="Rotate the refresh token")
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        issued = services.session_refresh(
            refresh_token=data.validated_data["refresh"], user_agent=request.META.get("HTTP_USER_AGENT", "")
        )
        return Response(_tokens(issued))


class LogoutApi(APIView):
    @extend_schema(request=RefreshInput, responses={204: None}, summary="Revoke the session (refresh token family)")
    def post(self, request):
        data = RefreshInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.session_logout(user_id=request.user.id, refresh_token=data.validated_data["refresh"])
        return Response(status=status.HTTP_204_NO_CONTENT)


class MeApi(APIView):
    class MeUpdateInput(serializers.Serializer):
        settings = serializers.DictField(help_text="Merged into the stored settings; a key set to null is removed.")

        def validate_settings(self, value):
            if len(json.dumps(value)) > settings.USER_SETTINGS_MAX_BYTES:
                raise serializers.ValidationError(f"At most {settings.USER_SETTINGS_MAX_BYTES} bytes of JSON.")
            return value

    @extend_schema(responses={200: UserOutput}, summary="The signed-in user")
    def get(self, request):
        return Response(UserOutput(selectors.user_get(user_id=request.user.id)).data)

    @extend_schema(request=MeUpdateInput, responses={200: UserOutput}, summary="Update own settings")
    def patch(self, request):
        data = self.MeUpdateInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_update_settings(
            user=selectors.user_get(user_id=request.user.id), changes=data.validated_data["settings"]
        )
        return Response(UserOutput(user).data)


class UserListApi(APIView):
    pagination_class = Pagination  # also tells the OpenAPI schema that lists are paginated

    permission_classes = [IsAdmin]

    class UserListFilters(serializers.Serializer):
        role = serializers.ChoiceField(choices=ROLES, required=False)
        search = serializers.CharField(max_length=100, required=False)

    @extend_schema(parameters=[UserListFilters], responses={200: UserOutput(many=True)}, summary="List users (admins)")
    def get(self, request):
        filters = self.UserListFilters(data=request.query_params)
        filters.is_valid(raise_exception=True)
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.user_list(**filters.validated_data), request, view=self)
        return paginator.get_paginated_response(UserOutput(page, many=True).data)


class UserRolesApi(APIView):
    permission_classes = [IsAdmin]

    class UserRolesInput(serializers.Serializer):
        roles = serializers.ListField(child=serializers.ChoiceField(choices=ROLES), allow_empty=False, max_length=len(ROLES))

    @extend_schema(request=UserRolesInput, responses={200: UserOutput}, summary="Set a user's roles (admins)")
    def put(self, request, user_id):
        data = self.UserRolesInput(data=request.data)
        data.is_valid(raise_exception=True)
        user = services.user_set_roles(user_id=user_id, roles=data.validated_data["roles"], actor_id=request.user.id)
        return Response(UserOutput(user).data)


class UserSecurityEventsApi(APIView):
    permission_classes = [IsAdmin]

    class SecurityEventsOutput(serializers.Serializer):
        user_id = serializers.UUIDField()
        events = serializers.ListField(child=serializers.DictField(), help_text="newest first; each names its service")
        unavailable = serializers.ListField(child=serializers.CharField(), help_text="services that did not answer")

    @extend_schema(responses={200: SecurityEventsOutput}, summary="One person's audit trail across services (admins)")
    def get(self, request, user_id):
        return Response(selectors.security_events(user_id=user_id, token=request.user.token))
