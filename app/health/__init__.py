"""Picture and audio health analysers (pure state machines) and their pipeline adapter."""
