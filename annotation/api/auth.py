from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.authtoken.models import Token
from rest_framework.exceptions import Throttled
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from config.api import validated
from config.errors import ServiceError
from config.schema import ErrorSerializer
from config.throttles import TOO_MANY, LoginGate


class InvalidCredentials(ServiceError):
    status_code = 400
    code = "invalid_credentials"


class TokenApi(APIView):
    """Exchange a username and password for an API token."""

    authentication_classes: list = []
    permission_classes = [AllowAny]

    class InputSerializer(serializers.Serializer):
        username = serializers.CharField()
        password = serializers.CharField(style={"input_type": "password"}, trim_whitespace=False)

    class OutputSerializer(serializers.Serializer):
        token = serializers.CharField()
        username = serializers.CharField()
        is_staff = serializers.BooleanField()

    @extend_schema(request=InputSerializer, responses={200: OutputSerializer, 400: ErrorSerializer, 429: ErrorSerializer},
                   auth=[])
    def post(self, request):
        credentials = validated(self.InputSerializer, request.data)
        gate = LoginGate(request, username=credentials["username"])
        wait = gate.refused()
        if wait is not None:
            raise Throttled(wait, TOO_MANY.format(seconds=wait))
        user = authenticate(request, **credentials)
        if user is None:
            gate.failed()
            raise InvalidCredentials("Wrong username or password.")
        token, _ = Token.objects.get_or_create(user=user)
        return Response(self.OutputSerializer({"token": token.key, "username": user.username, "is_staff": user.is_staff}).data)
