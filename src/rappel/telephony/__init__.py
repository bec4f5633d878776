"""The Telephony port and its drivers."""
