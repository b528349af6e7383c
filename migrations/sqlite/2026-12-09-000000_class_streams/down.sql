DROP TABLE reader_views;
DROP TABLE class_rows;
DROP TABLE classes;
