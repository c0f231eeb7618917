"""The lab: network namespaces, fault injectors and scenarios for end-to-end tests (root)."""
