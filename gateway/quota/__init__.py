"""Rate limits, parallel-request limits, budgets and the usage ledger, per key, tenant and
route: in process by default, shared and atomic in Redis when `state.redis_url_env` is set."""
