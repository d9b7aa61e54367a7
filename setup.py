"""The one compiled part: Ed25519 batch verification (csrc/, third_party/ed25519-donna).

Optional: where no C compiler is found the install still succeeds, and `ledger.keys` checks
every signature alone (the same answers, about twice the CPU). Everything else is in
pyproject.toml.
"""

from setuptools import Extension, setup

setup(ext_modules=[Extension(
    "ledger._ed25519_batch",
    sources=["csrc/ed25519_batch.c"],
    include_dirs=["csrc", "third_party/ed25519-donna"],
    define_macros=[("ED25519_REFHASH", None), ("ED25519_CUSTOMRANDOM", None)],
    extra_compile_args=["-O3", "-Wno-unused-function"],
    optional=True,
)])
