DROP TABLE mail_cursors;
DROP TABLE mailboxes;
