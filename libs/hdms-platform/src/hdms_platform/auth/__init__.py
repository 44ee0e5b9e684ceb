"""Who the caller is and what they may do: tokens, the ticket access rule, rate limits, write throttles."""
