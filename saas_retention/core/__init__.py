"""What the user gives us and the rules it must follow: the input contract, the settings, the
errors a bad source or config raises, the period arithmetic and the template parameters."""
