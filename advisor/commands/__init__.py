"""The click commands: each parses its options, calls the library, prints. Nothing below imports them."""
