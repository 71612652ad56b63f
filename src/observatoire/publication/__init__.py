"""What the observatory writes for others to publish: the buyer's legal DECP file."""
