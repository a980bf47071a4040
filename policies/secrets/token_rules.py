"""Rules for credentials that carry a vendor prefix or a fixed shape of their own."""

from __future__ import annotations

import re

from policies.secrets.checksums import crc32_base62_ok, discord_id_ok
from policies.secrets.rule import Rule, looks_random, token

_HEX32 = "[a-f0-9]{32}"
_GITLAB_KINDS = "glpat gldt glrt glptt glcbt gloas glft glimt glagent glsoat glffct glwt"


def _discord_check(_text: str, match: re.Match[str]) -> bool:
    first = match.group("secret").split(".", 1)[0]
    return discord_id_ok(first) or looks_random(match.group("secret"))


CLOUD = (
    token(
        "aws-access-key-id",
        "AWS_ACCESS_KEY_ID",
        r"(?:AKIA|ASIA|ABIA|ACCA|A3T[A-Z0-9])(?P<body>[A-Z0-9]{16})",
        ("akia", "asia", "abia", "acca", "a3t"),
        min_entropy=2.5,
        check=None,
    ),
    token(
        "aws-session-token",
        "AWS_SESSION_TOKEN",
        r"(?:IQoJb3JpZ2lu|FwoGZXIvYXdz|FQoGZXIvYXdz)(?P<body>[A-Za-z0-9+/=]{80,1500})",
        ("iqojb3jpz2lu", "fwogzxivyxdz", "fqogzxivyxdz"),
    ),
    token(
        "google-api-key",
        "GOOGLE_API_KEY",
        r"AIza(?P<body>[0-9A-Za-z_\-]{35})",
        ("aiza",),
    ),
    token(
        "google-oauth-client-secret",
        "GOOGLE_OAUTH_CLIENT_SECRET",
        r"GOCSPX-(?P<body>[A-Za-z0-9_\-]{28})",
        ("gocspx-",),
    ),
    token(
        "google-oauth-access-token",
        "GOOGLE_OAUTH_TOKEN",
        r"ya29\.(?P<body>[0-9A-Za-z_\-]{30,512})",
        ("ya29.",),
    ),
    token(
        "azure-ad-client-secret",
        "AZURE_CLIENT_SECRET",
        r"(?P<body>[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.\-]{31,34})",
        ("q~",),
        lead=4,
        reach=40,
    ),
    token(
        "digitalocean-token",
        "DIGITALOCEAN_TOKEN",
        r"do[opr]_v1_(?P<body>[a-f0-9]{64})",
        ("dop_v1_", "doo_v1_", "dor_v1_"),
    ),
    token("heroku-api-key", "HEROKU_API_KEY", r"HRKU-(?P<body>[A-Za-z0-9_\-]{58,64})", ("hrku-",)),
    token(
        "vault-token",
        "VAULT_TOKEN",
        r"hv[sbr]\.(?P<body>[A-Za-z0-9_\-]{24,200})",
        ("hv",),
    ),
    token("databricks-token", "DATABRICKS_TOKEN", rf"dapi(?P<body>{_HEX32})(?:-\d)?", ("dapi",)),
    token(
        "terraform-cloud-token",
        "TERRAFORM_CLOUD_TOKEN",
        r"(?P<body>[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_\-]{60,90})",
        ("atlasv1",),
        lead=15,
        reach=100,
    ),
)

VCS = (
    token(
        "github-token",
        "GITHUB_TOKEN",
        r"gh[pousr]_(?P<body>[A-Za-z0-9]{36,251})",
        ("gh",),
        checksum=crc32_base62_ok,
    ),
    token(
        "github-fine-grained-token",
        "GITHUB_TOKEN",
        r"github_pat_(?P<body>[A-Za-z0-9]{22}_[A-Za-z0-9]{59,240})",
        ("github_pat_",),
    ),
    token(
        "gitlab-token",
        "GITLAB_TOKEN",
        rf"(?:{_GITLAB_KINDS.replace(' ', '|')})-"
        r"(?P<body>[A-Za-z0-9_.\-]{20,80})",
        ("gl",),
    ),
    token(
        "gitlab-runner-registration-token",
        "GITLAB_TOKEN",
        r"GR1348941(?P<body>[A-Za-z0-9_\-]{20,40})",
        ("gr1348941",),
    ),
    token("bitbucket-app-password", "BITBUCKET_TOKEN", r"ATBB(?P<body>[A-Za-z0-9]{32})", ("atbb",)),
    token(
        "bitbucket-data-center-token",
        "BITBUCKET_TOKEN",
        r"BBDC-(?P<body>[A-Za-z0-9+/@_\-]{44})",
        ("bbdc-",),
    ),
    token(
        "atlassian-api-token",
        "ATLASSIAN_API_TOKEN",
        r"AT(?:ATT|CTT|OAT)3(?P<body>[A-Za-z0-9_\-=]{150,260})",
        ("atatt3", "atctt3", "atoat3"),
    ),
    token(
        "npm-token",
        "NPM_TOKEN",
        r"npm_(?P<body>[A-Za-z0-9]{36})",
        ("npm_",),
        checksum=crc32_base62_ok,
    ),
    token(
        "pypi-token",
        "PYPI_TOKEN",
        # Macaroons (`AgEIcHlwaS5vcmc...` for pypi.org), but any long body will do.
        r"pypi-(?P<body>[A-Za-z0-9_\-]{70,300})",
        ("pypi-",),
    ),
    token("rubygems-token", "RUBYGEMS_TOKEN", r"rubygems_(?P<body>[a-f0-9]{48})", ("rubygems_",)),
    token("nuget-key", "NUGET_API_KEY", r"oy2(?P<body>[a-z0-9]{43})", ("oy2",)),
    token(
        "docker-hub-token",
        "DOCKER_HUB_TOKEN",
        r"dckr_(?:pat|oat)_(?P<body>[A-Za-z0-9_\-]{27,80})",
        ("dckr_",),
    ),
    token(
        "postman-api-key",
        "POSTMAN_API_KEY",
        r"PMAK-(?P<body>[a-f0-9]{24}-[a-f0-9]{34})",
        ("pmak-",),
    ),
)

CHAT = (
    token(
        "slack-token",
        "SLACK_TOKEN",
        r"xox[abeposr]-(?P<body>[0-9]{1,15}-[0-9A-Za-z\-]{8,250})",
        ("xox",),
    ),
    token(
        "slack-config-token",
        "SLACK_TOKEN",
        r"xoxe\.xox[bp]-\d-(?P<body>[A-Z0-9]{100,200})",
        ("xox",),
    ),
    token(
        "slack-app-token",
        "SLACK_TOKEN",
        r"xapp-\d-(?P<body>[A-Z0-9]{8,14}-\d{8,16}-[A-Za-z0-9]{32,80})",
        ("xapp-",),
    ),
    token(
        "slack-webhook",
        "SLACK_WEBHOOK_URL",
        r"https://hooks\.slack\.com/(?:services|workflows|triggers)/"
        r"(?P<body>[A-Za-z0-9_]{8,12}/[A-Za-z0-9_]{8,12}/[A-Za-z0-9_]{20,48})",
        ("hooks.slack.com",),
        lead=8,
        reach=130,
    ),
    token(
        "discord-webhook",
        "DISCORD_WEBHOOK_URL",
        r"https://(?:ptb\.|canary\.)?discord(?:app)?\.com/api/webhooks/"
        r"\d{17,20}/(?P<body>[A-Za-z0-9_\-]{60,70})",
        ("discord",),
        lead=15,
        reach=150,
    ),
    Rule(
        "discord-bot-token",
        "DISCORD_BOT_TOKEN",
        (),
        # No anchor, so this regex scans the whole text: the boundary check after the first
        # character lets the engine skip straight to the next M, N or O.
        re.compile(
            r"(?P<secret>[MNO](?<![A-Za-z0-9_\-].)(?P<body>[A-Za-z0-9_\-]{23,27}\."
            r"[A-Za-z0-9_\-]{6,7}\.[A-Za-z0-9_\-]{27,40}))(?![A-Za-z0-9_\-])"
        ),
        check=_discord_check,
    ),
    token(
        "telegram-bot-token",
        "TELEGRAM_BOT_TOKEN",
        r"\d{8,10}:(?P<body>[A-Za-z0-9_\-]{35})",
        (":",),
        lead=10,
        reach=37,
    ),
    token(
        "teams-webhook",
        "TEAMS_WEBHOOK_URL",
        r"https://[a-z0-9\-]{1,63}\.webhook\.office\.com/webhookb2/"
        r"(?P<body>[A-Za-z0-9@\-]{36,120}/IncomingWebhook/[A-Za-z0-9]{32}/[A-Za-z0-9\-]{36})",
        ("webhook.office.com",),
        lead=72,
        reach=260,
    ),
)
