from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError as DjangoValidationError
from rest_framework import serializers

from accounts.models import Session, User
from accounts.services import DUPLICATE_EMAIL
from servicekit.api import StrictCharField, StrictEmailField, StrictModelSerializer

# Longer passwords are refused before hashing: hashing huge inputs is a cheap DoS.
PASSWORD_MAX_LENGTH = 128
EMAIL_MAX_LENGTH = User._meta.get_field("email").max_length


def password_field(
    field_class: type[serializers.CharField] = StrictCharField, *, required: bool = True, **extra: str
) -> serializers.CharField:
    return field_class(
        write_only=True,
        required=required,
        trim_whitespace=False,
        max_length=PASSWORD_MAX_LENGTH,
        style={"input_type": "password"},
        **extra,
    )


def _min_password_length() -> int:
    lengths = [
        validator.min_length
        for validator in password_validation.get_default_password_validators()
        if isinstance(validator, password_validation.MinimumLengthValidator)
    ]
    return max(lengths, default=1)


class NewPasswordField(StrictCharField):
    """A password being chosen: its schema states what Django's password validators check,
    as far as a schema can (a list of common passwords and similarity to the email cannot)."""

    input_schema = {
        "minLength": _min_password_length(),
        # No NUL, and one character at least that is not a digit.
        "pattern": "^[^\\u0000]*[^\\u0000\\u0030-\\u0039][^\\u0000]*$",
        "description": f"At least {_min_password_length()} characters, not all digits; also neither a common "
        "password nor too similar to the email or display name (400 lists the reasons).",
    }


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "email", "display_name", "date_joined", "is_staff"]
        read_only_fields = fields


class UniqueEmailMixin:
    def validate_email(self, value: str) -> str:
        email = User.objects.normalize_email(value)
        if len(email) > EMAIL_MAX_LENGTH:  # lower-casing can lengthen a string ("İ" is two code points)
            raise serializers.ValidationError(f"Ensure this field has no more than {EMAIL_MAX_LENGTH} characters.")
        others = User.objects.filter(email=email)
        if getattr(self, "instance", None) is not None:
            others = others.exclude(pk=self.instance.pk)
        if others.exists():
            raise serializers.ValidationError(DUPLICATE_EMAIL)
        return email


class SignupSerializer(UniqueEmailMixin, serializers.Serializer):
    email = StrictEmailField(max_length=EMAIL_MAX_LENGTH)
    password = password_field(NewPasswordField)
    display_name = StrictCharField(max_length=150, required=False, allow_blank=True, default="")

    def validate(self, attrs: dict) -> dict:
        candidate = User(email=attrs["email"], display_name=attrs.get("display_name", ""))
        try:
            password_validation.validate_password(attrs["password"], user=candidate)
        except DjangoValidationError as exc:
            raise serializers.ValidationError({"password": list(exc.messages)}) from None
        return attrs


class UserUpdateSerializer(UniqueEmailMixin, StrictModelSerializer):
    """What a user may change about themselves; anything else in the body is ignored."""

    current_password = password_field(required=False, help_text="Required to change the email.")

    class Meta:
        model = User
        fields = ["email", "display_name", "current_password"]


class PasswordChangeSerializer(serializers.Serializer):
    current_password = password_field()
    new_password = password_field(NewPasswordField)


class PasswordResetRequestSerializer(serializers.Serializer):
    email = StrictEmailField(max_length=EMAIL_MAX_LENGTH)


class PasswordResetConfirmSerializer(serializers.Serializer):
    uid = StrictCharField(max_length=64, help_text="The uid of the reset email.")
    token = StrictCharField(max_length=128, help_text="The token of the reset email.")
    new_password = password_field(NewPasswordField)


class SessionSerializer(serializers.ModelSerializer):
    current = serializers.SerializerMethodField(help_text="Whether the token of this request belongs to it.")

    class Meta:
        model = Session
        fields = ["id", "created_at", "last_used_at", "expires_at", "user_agent", "ip_address", "current"]
        read_only_fields = fields

    def get_current(self, session: Session) -> bool:
        return str(session.id) == self.context.get("session_id")


class LoginSerializer(serializers.Serializer):
    email = StrictCharField(max_length=EMAIL_MAX_LENGTH)
    password = password_field()


class RefreshSerializer(serializers.Serializer):
    refresh = StrictCharField(max_length=4096)


class TokenPairSerializer(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField()


class SignupResponseSerializer(TokenPairSerializer):
    user = UserSerializer()
