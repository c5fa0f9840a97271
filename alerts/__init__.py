"""Alert webhooks: events worth a human's attention, posted signed to a project's hooks."""
