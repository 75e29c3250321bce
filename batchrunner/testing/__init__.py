"""Test helpers shipped with batchrunner, so users' plugin and integration tests can use them too."""
