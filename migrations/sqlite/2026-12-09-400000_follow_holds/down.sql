DROP TABLE follow_holds;
