"""Request builders between the Chat and Messages dialects (replies and streams: app.translate.*_to_*)."""
