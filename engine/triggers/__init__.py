"""Trigger rules (pure), the regime matrix, and the trigger actor that emits RebalanceIntents."""
