"""The identity-graph scenario: households → individuals → identity mappings, and campaigns; content
engagements, campaign exposures and response events (each answering an earlier exposure)."""
