"""dcsim: compress."""
