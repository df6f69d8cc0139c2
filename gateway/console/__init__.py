"""The web console every gateway serves under /console (docs/console.md)."""
