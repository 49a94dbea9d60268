"""The static download site and browser demo for the mobile and browser artifacts (`python -m rosetta.web.site`)."""
