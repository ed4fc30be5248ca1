"""The TapFlow scenario: a B2B beverage-dispensing SaaS (accounts → locations → devices, users,
subscriptions; pours, device heartbeats, feature usage)."""
