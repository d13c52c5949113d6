"""`python bench/validate_floor.py`: the least a pydantic v2 + PyYAML validation can cost as a process.

Three tiny models and one document: what any `validate` built on the project's mandated dependencies
pays before doing its own work. docs/performance.md compares `reconcile validate` with it.
"""

import yaml
from pydantic import BaseModel


class Version(BaseModel):
    version: str
    sha256: str


class Plugin(BaseModel):
    name: str
    type: str
    versions: list[Version]


class Document(BaseModel):
    plugins: list[Plugin] = []


Document.model_validate(yaml.safe_load("plugins: [{name: kv, type: secret, versions: [{version: v1, sha256: ab}]}]"))
