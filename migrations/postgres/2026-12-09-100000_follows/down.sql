DROP TABLE notifications;
DROP TABLE follows;
