"""Bounces and complaints: the signed return path, parsing, intake, and the two ways in."""
