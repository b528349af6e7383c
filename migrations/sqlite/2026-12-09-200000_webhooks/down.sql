DROP TABLE feed_marks;
DROP TABLE webhook_outbox;
DROP TABLE webhooks;
