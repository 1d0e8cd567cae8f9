-- Dead letters per reason class (the text before the first colon), each raw record once.
SELECT splitByChar(':', reason)[1] AS class, count() AS letters
FROM dead_letters FINAL
GROUP BY class
