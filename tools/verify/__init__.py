"""Sound verification of model claims (issue 14): barrier certificates and small math checks.

    from tools.verify.runner import Verifier
    verifier = Verifier(workers=2, memory_mb=2048)
    await verifier.start()                         # warm the worker processes (optional)
    result = await verifier.verify(spec, timeout=10.0)
    await verifier.aclose()

`tools.verify.checks.run_check(spec, budget)` is the same check in-process (no kill, no memory
cap). Both return the verdict dict of `tools.verify.result`; a refused spec or expression is
`{"verdict": "error", "reason": ...}` rather than an exception. Spec shapes: `checks` (all
kinds) and `barrier`. Layers: `parse` (untrusted text -> SymPy, AST whitelist), `region`
(find a point in a region or prove it empty: z3, exact re-check, sampling),
`abstraction` (z3 proofs over sound bounds of sin/cos/exp/tanh), `runner` (worker processes).
Nothing here imports SymPy or z3 at package import time.
"""
