"""The target settings, and the promise that local mode never reaches a real AWS endpoint."""

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError, ParamValidationError

from workshop import config
from workshop.config import ConfigError, LocalModeViolation


@pytest.fixture(autouse=True)
def clean_settings(monkeypatch):
    for name in ("WORKSHOP_TARGET", "WORKSHOP_PREFIX", "WORKSHOP_LOCAL_PORT", "WORKSHOP_REGION"):
        monkeypatch.delenv(name, raising=False)
    config.reset()
    yield
    config.reset()


def test_local_is_the_default_target_on_127_0_0_1():
    s = config.settings()
    assert s.target == "local"
    assert s.endpoint_url == f"http://127.0.0.1:{config.DEFAULT_LOCAL_PORT}"
    assert s.stack_name == "gadget-sales-pipeline"


@pytest.mark.parametrize("validate", [True, False])
def test_local_clients_ignore_the_users_aws_profile_keys_and_endpoint(monkeypatch, validate):
    # validate=False (the generator's fast client) is pinned exactly like the others.
    monkeypatch.setenv("AWS_PROFILE", "a-profile-that-does-not-exist")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAREALLOOKINGKEY000")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "real-secret")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "https://dynamodb.us-east-1.amazonaws.com")
    s3 = config.client("s3", validate=validate)
    assert s3.meta.endpoint_url == "http://127.0.0.1:5123"
    credentials = s3._request_signer._credentials
    assert credentials.access_key == "testing"


def test_an_unvalidated_client_leaves_the_check_of_a_request_to_the_service():
    with pytest.raises(ParamValidationError, match="TableName"):
        config.client("dynamodb").describe_table()
    # Sent as it is: refused by a local AWS if one runs on the port, else not connected.
    with pytest.raises((ClientError, EndpointConnectionError)):
        config.client("dynamodb", validate=False).describe_table()


def test_local_mode_refuses_any_request_that_is_not_to_127_0_0_1():
    # Even a client made without the local endpoint cannot leave the machine.
    stray = config.session().client("s3", region_name="us-east-1")
    with pytest.raises(LocalModeViolation, match=r"only the local AWS on 127\.0\.0\.1"):
        stray.list_buckets()


def test_aws_target_uses_the_default_endpoints(monkeypatch):
    monkeypatch.setenv("WORKSHOP_TARGET", "aws")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    s = config.settings()
    assert s.endpoint_url is None
    assert "amazonaws.com" in config.client("sts", s).meta.endpoint_url


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("WORKSHOP_TARGET", "cloud", "choose one of local, aws"),
        ("WORKSHOP_PREFIX", "Alice-1", "lowercase letters and digits"),
        ("WORKSHOP_LOCAL_PORT", "fifty", "must be a port number"),
        ("WORKSHOP_LOCAL_PORT", "80", "choose a port in 1024-65535"),
    ],
)
def test_a_bad_setting_names_the_variable_and_the_fix(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=message) as caught:
        config.settings()
    assert variable in str(caught.value)


def test_configure_overrides_the_environment_for_this_process(monkeypatch):
    monkeypatch.setenv("WORKSHOP_PREFIX", "bob")
    assert config.configure(prefix="alice").prefix == "alice"
    with pytest.raises(ConfigError, match="Unknown setting"):
        config.configure(colour="blue")


def test_a_bad_value_given_to_configure_is_refused_and_not_kept(monkeypatch):
    monkeypatch.delenv("WORKSHOP_PREFIX", raising=False)
    config.configure(prefix="alice")
    with pytest.raises(ConfigError, match="WORKSHOP_PREFIX is 'Bad_Prefix'"):
        config.configure(prefix="Bad_Prefix")
    assert config.settings().prefix == "alice"


@pytest.mark.parametrize(("text", "realistic"), [(None, True), ("on", True), ("OFF", False),
                                                 ("0", False), ("yes", True)])
def test_the_local_aws_is_realistic_unless_switched_off(monkeypatch, text, realistic):
    if text is None:
        monkeypatch.delenv("WORKSHOP_LOCAL_REALISTIC", raising=False)
    else:
        monkeypatch.setenv("WORKSHOP_LOCAL_REALISTIC", text)
    assert config.settings().realistic is realistic


def test_a_realism_switch_that_is_neither_on_nor_off_is_refused(monkeypatch):
    monkeypatch.setenv("WORKSHOP_LOCAL_REALISTIC", "sometimes")
    with pytest.raises(ConfigError, match="WORKSHOP_LOCAL_REALISTIC is 'sometimes'; use on or off"):
        config.settings()
