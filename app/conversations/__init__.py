"""Stored Responses (for `previous_response_id`, GET and DELETE /v1/responses/{id})."""
