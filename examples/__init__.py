"""Runnable examples of sio."""
