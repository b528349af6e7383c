DROP TABLE statuses;
DROP TABLE objects;
DROP TABLE sharing_rules;
DROP TABLE memberships;
DROP TABLE communities;
DROP TABLE users;
DROP TABLE partners;
DROP TABLE meta;
