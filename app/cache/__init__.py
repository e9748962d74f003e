"""The response cache: exact-match answers, per owner or shared, in Redis or in process."""
