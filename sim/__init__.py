"""dcsim: sim."""
