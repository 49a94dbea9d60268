"""The JavaScript runners and pinned npm manifests that validate browser artifacts (installed as rosetta.js)."""
