-- Reports keep one unique key on a random hash, not two (issue 18). Equal content means equal
-- organization, report-id and dates, so the dedup key already finds every copy the content
-- hash found; the content hash stays as a column (a copy is told apart from a conflicting
-- report by comparing it). Every stored report wrote an index page of each at a random place.
alter table report drop constraint report_content_unique;
