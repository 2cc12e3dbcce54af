"""Smartcards, the certificate authority, PINs, passwords, TOTP and security keys."""
