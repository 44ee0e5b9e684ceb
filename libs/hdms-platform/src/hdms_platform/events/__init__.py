"""Live events: the contracts, the Channels layer, the long-lived loop the broadcasts run on."""
