"""Rules for payment, messaging, SaaS and LLM-provider credentials."""

from __future__ import annotations

from policies.secrets.rule import token

PAYMENT = (
    token(
        "stripe-secret-key",
        "STRIPE_SECRET_KEY",
        r"(?:sk|rk)_(?:live|test)_(?P<body>[A-Za-z0-9]{24,247})",
        ("sk_", "rk_"),
    ),
    token(
        "stripe-webhook-secret",
        "STRIPE_WEBHOOK_SECRET",
        r"whsec_(?P<body>[A-Za-z0-9+/=]{32,88})",
        ("whsec_",),
    ),
    token(
        "square-token",
        "SQUARE_ACCESS_TOKEN",
        r"(?:sq0atp-(?P<body>[A-Za-z0-9_\-]{22})|sq0csp-[A-Za-z0-9_\-]{43}|EAAA[A-Za-z0-9_\-]{60})",
        ("sq0atp-", "sq0csp-", "eaaa"),
    ),
    token(
        "braintree-access-token",
        "BRAINTREE_ACCESS_TOKEN",
        r"access_token\$(?:production|sandbox)\$[0-9a-z]{16}\$(?P<body>[0-9a-f]{32})",
        ("access_token$",),
    ),
    token(
        "shopify-token",
        "SHOPIFY_TOKEN",
        r"shp(?:at|ca|pa|ss)_(?P<body>[a-fA-F0-9]{32})",
        ("shp",),
    ),
    token("facebook-access-token", "FACEBOOK_ACCESS_TOKEN", r"EAA[A-Za-z0-9]{100,400}", ("eaa",)),
)

MESSAGING = (
    token("twilio-account-sid", "TWILIO_ACCOUNT_SID", r"AC(?P<body>[a-f0-9]{32})", ("ac",)),
    token("twilio-api-key", "TWILIO_API_KEY", r"SK(?P<body>[a-f0-9]{32})", ("sk",)),
    token(
        "sendgrid-api-key",
        "SENDGRID_API_KEY",
        r"SG\.(?P<body>[A-Za-z0-9_\-]{22}\.[A-Za-z0-9_\-]{43})",
        ("sg.",),
    ),
    token("mailgun-api-key", "MAILGUN_API_KEY", r"key-(?P<body>[0-9a-zA-Z]{32})", ("key-",)),
    token(
        "mailchimp-api-key",
        "MAILCHIMP_API_KEY",
        r"(?P<body>[0-9a-f]{32})-us\d{1,2}",
        ("-us",),
        lead=32,
        reach=8,
    ),
    token(
        "newrelic-key",
        "NEW_RELIC_KEY",
        r"NR(?:AK|AA|II)-(?P<body>[A-Z0-9]{27})",
        ("nr",),
    ),
    token("linear-api-key", "LINEAR_API_KEY", r"lin_api_(?P<body>[A-Za-z0-9]{40})", ("lin_api_",)),
    token(
        "notion-token",
        "NOTION_TOKEN",
        r"(?:secret_(?P<body>[A-Za-z0-9]{43})|ntn_[A-Za-z0-9]{46})",
        ("secret_", "ntn_"),
    ),
    token(
        "grafana-token",
        "GRAFANA_TOKEN",
        r"gl(?:c|sa)_(?P<body>[A-Za-z0-9_=+/]{32,200})",
        ("gl",),
    ),
)

LLM = (
    token(
        "openai-api-key",
        "OPENAI_API_KEY",
        r"sk-(?!ant-|or-v1-)(?:proj-|svcacct-|admin-|None-)?(?P<body>[A-Za-z0-9_\-]{20,200})",
        ("sk",),
    ),
    token(
        "anthropic-api-key",
        "ANTHROPIC_API_KEY",
        r"sk-ant-(?:[a-z]{2,8}\d{2}-)?(?P<body>[A-Za-z0-9_\-]{32,120})",
        ("sk",),
    ),
    token(
        "openrouter-api-key",
        "OPENROUTER_API_KEY",
        r"sk-or-v1-(?P<body>[a-f0-9]{64})",
        ("sk",),
    ),
    token("groq-api-key", "GROQ_API_KEY", r"gsk_(?P<body>[A-Za-z0-9]{48,56})", ("gsk_",)),
    token("xai-api-key", "XAI_API_KEY", r"xai-(?P<body>[A-Za-z0-9]{60,100})", ("xai-",)),
    token(
        "huggingface-token",
        "HUGGINGFACE_TOKEN",
        r"(?:hf_|api_org_)(?P<body>[A-Za-z0-9]{30,40})",
        ("hf_", "api_org_"),
    ),
    token("replicate-api-token", "REPLICATE_API_TOKEN", r"r8_(?P<body>[A-Za-z0-9]{37})", ("r8_",)),
    token(
        "perplexity-api-key", "PERPLEXITY_API_KEY", r"pplx-(?P<body>[A-Za-z0-9]{40,56})", ("pplx-",)
    ),
    token(
        "langsmith-api-key",
        "LANGSMITH_API_KEY",
        r"lsv2_(?:pt|sk)_(?P<body>[a-f0-9]{32})_[a-f0-9]{10}",
        ("lsv2_",),
    ),
    token(
        "tavily-api-key",
        "TAVILY_API_KEY",
        r"tvly-(?:dev-|prod-)?(?P<body>[A-Za-z0-9]{32})",
        ("tvly-",),
    ),
    token(
        "pinecone-api-key", "PINECONE_API_KEY", r"pcsk_(?P<body>[A-Za-z0-9_]{50,90})", ("pcsk_",)
    ),
)
