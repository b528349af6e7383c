DROP TABLE webhook_outbox;
DROP TABLE webhooks;
