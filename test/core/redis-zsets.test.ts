/**
 * Sorted-set commands of the pure engine (src/core/redis/zsets.ts). The expected replies of the
 * tables were read from redis-server 7.0.15 (RESP2) for the same command sequences.
 */
import { describe, expect, it } from "vitest";
import { compareMembers, formatScore, parseScore, parseScoreBound } from "../../src/core/redis/score";
import { E, MapKeyspace, T0, run, script, table } from "../support/redis-engine";

table("ZADD and ZINCRBY", [
    [
      "adds new members and counts only those added",
      [
      [["ZADD","z",1,"a",2,"b"], 2],
      [["ZADD","z",3,"a",4,"c"], 1],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["b","2","a","3","c","4"]],
      [["ZCARD","z"], 3],
      ],
    ],
    [
      "a member given twice takes its last score",
      [
      [["ZADD","z",1,"a",2,"a"], 1],
      [["ZSCORE","z","a"], "2"],
      [["ZADD","z","CH",5,"a",1,"a"], 2],
      ],
    ],
    [
      "NX only adds, XX only updates (and creates no key)",
      [
      [["ZADD","z","NX",1,"a"], 1],
      [["ZADD","z","NX",9,"a",2,"b"], 1],
      [["ZADD","z","XX",7,"a",3,"c"], 0],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["b","2","a","7"]],
      [["ZADD","nokey","XX",1,"a"], 0],
      [["EXISTS","nokey"], 0],
      [["ZADD","nokey","XX","INCR",1,"a"], null],
      [["EXISTS","nokey"], 0],
      ],
    ],
    [
      "GT and LT update only upward or downward, and still add new members",
      [
      [["ZADD","z",5,"a"], 1],
      [["ZADD","z","GT",4,"a"], 0],
      [["ZADD","z","GT","CH",6,"a"], 1],
      [["ZADD","z","LT","CH",7,"a"], 0],
      [["ZADD","z","LT","CH",1,"a",2,"b"], 2],
      [["ZADD","z","GT","XX","CH",10,"a",3,"new"], 1],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["b","2","a","10"]],
      ],
    ],
    [
      "CH counts changed scores, not unchanged ones",
      [
      [["ZADD","z",1,"a",2,"b"], 2],
      [["ZADD","z","CH",1,"a",3,"b",4,"c"], 2],
      [["ZADD","z","ch",1,"a"], 0],
      ],
    ],
    [
      "INCR replies the new score, or nil when NX/XX/GT/LT skipped it",
      [
      [["ZADD","z","INCR",1.5,"a"], "1.5"],
      [["ZADD","z","INCR",1,"a"], "2.5"],
      [["ZADD","z","INCR","NX",1,"a"], null],
      [["ZADD","z","INCR","XX",1,"b"], null],
      [["ZADD","z","INCR","GT",-1,"a"], null],
      [["ZADD","z","INCR","LT",-1,"a"], "1.5"],
      [["ZADD","z","GT","CH","INCR",0,"a"], null],
      ],
    ],
    [
      "option errors and their order",
      [
      [["ZADD","z","XX","NX",1,"a"], E("ERR XX and NX options at the same time are not compatible")],
      [["ZADD","z","GT","LT",1,"a"], E("ERR GT, LT, and/or NX options at the same time are not compatible")],
      [["ZADD","z","GT","NX",1,"a"], E("ERR GT, LT, and/or NX options at the same time are not compatible")],
      [["ZADD","z","LT","NX",1,"a"], E("ERR GT, LT, and/or NX options at the same time are not compatible")],
      [["ZADD","z","INCR",1,"a",2,"b"], E("ERR INCR option supports a single increment-element pair")],
      [["ZADD","z",1,"a",2], E("ERR syntax error")],
      [["ZADD","z","NX",1], E("ERR syntax error")],
      [["ZADD","z","NX","XX"], E("ERR syntax error")],
      [["ZADD","z","FOO",1,"a"], E("ERR syntax error")],
      [["ZADD","z",1,"a","x"], E("ERR syntax error")],
      [["ZADD","z"], E("ERR wrong number of arguments for 'zadd' command")],
      [["ZADD","z",1], E("ERR wrong number of arguments for 'zadd' command")],
      [["ZADD","z","abc","a"], E("ERR value is not a valid float")],
      [["ZADD","z",1,"a","abc","b"], E("ERR value is not a valid float")],
      [["EXISTS","z"], 0],
      ],
    ],
    [
      "scores: strtod syntax, no NaN, no spaces, no overflow",
      [
      [["ZADD","z","inf","a","-inf","b","+inf","c","1e3","d","0x10","e",".5","f","5.","g","+1","h","-Infinity","i","INF","j"], 10],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["b","-inf","i","-inf","f","0.5","h","1","g","5","e","16","d","1000","a","inf","c","inf","j","inf"]],
      [["ZADD","z","nan","a"], E("ERR value is not a valid float")],
      [["ZADD","z"," 1","a"], E("ERR value is not a valid float")],
      [["ZADD","z","1 ","a"], E("ERR value is not a valid float")],
      [["ZADD","z","","a"], E("ERR value is not a valid float")],
      [["ZADD","z","1e400","a"], E("ERR value is not a valid float")],
      [["ZADD","z","1e-400","a"], E("ERR value is not a valid float")],
      [["ZADD","z","1e","a"], E("ERR value is not a valid float")],
      [["ZADD","z","0x","a"], E("ERR value is not a valid float")],
      [["ZADD","z","5e-324","tiny"], 1],
      [["ZSCORE","z","tiny"], "4.9406564584124654e-324"],
      ],
    ],
    [
      "scores print as %.17g",
      [
      [["ZADD","z",0.1,"a",1,"b","1e20","c","1.5e-7","d","123456789012345678","e","3.14","f","1e-300","g","1.00000762939453125","h","-2.5","i","100000000000000000","j","12345678901234567","k","0.0001","l","0.00001","m","1e16","n","1e17","o"], 15],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["i","-2.5","g","1e-300","d","1.4999999999999999e-07","m","1.0000000000000001e-05","l","0.0001","a","0.10000000000000001","b","1","h","1.0000076293945312","f","3.1400000000000001","n","10000000000000000","k","12345678901234568","j","1e+17","o","1e+17","e","1.2345678901234568e+17","c","1e+20"]],
      ],
    ],
    [
      "-0 is stored as 0 but INCR replies it",
      [
      [["ZADD","z","-0","a"], 1],
      [["ZSCORE","z","a"], "0"],
      [["ZINCRBY","z","-0","b"], "-0"],
      [["ZADD","z","INCR","-0","c"], "-0"],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["a","0","b","0","c","0"]],
      ],
    ],
    [
      "INCR to NaN is an error",
      [
      [["ZADD","z","INCR","inf","a"], "inf"],
      [["ZADD","z","INCR","-inf","a"], E("ERR resulting score is not a number (NaN)")],
      [["ZINCRBY","z","-inf","a"], E("ERR resulting score is not a number (NaN)")],
      [["ZSCORE","z","a"], "inf"],
      ],
    ],
    [
      "ZINCRBY creates, increments and checks its increment",
      [
      [["ZINCRBY","z",2,"a"], "2"],
      [["ZINCRBY","z","0.5","a"], "2.5"],
      [["ZINCRBY","z","abc","a"], E("ERR value is not a valid float")],
      [["ZINCRBY","z","nan","a"], E("ERR value is not a valid float")],
      [["ZINCRBY","z","NX","a"], E("ERR syntax error")],
      [["ZINCRBY","z",1], E("ERR wrong number of arguments for 'zincrby' command")],
      ],
    ],
    [
      "wrong type, after the arguments are checked",
      [
      [["SET","s","x"], "OK"],
      [["ZADD","s",1,"a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZADD","s","abc","a"], E("ERR value is not a valid float")],
      [["ZADD","s","NX","XX",1,"a"], E("ERR XX and NX options at the same time are not compatible")],
      [["ZINCRBY","s",1,"a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
]);

table("ZSCORE ZMSCORE ZCARD ZRANK ZREVRANK", [
    [
      "read scores, cardinality and ranks",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZSCORE","z","c"], "3"],
      [["ZSCORE","z","x"], null],
      [["ZSCORE","nokey","a"], null],
      [["ZMSCORE","z","a","x","e"], ["1",null,"5"]],
      [["ZMSCORE","nokey","a","b"], [null,null]],
      [["ZCARD","z"], 5],
      [["ZCARD","nokey"], 0],
      [["ZRANK","z","a"], 0],
      [["ZRANK","z","e"], 4],
      [["ZRANK","z","x"], null],
      [["ZRANK","nokey","a"], null],
      [["ZREVRANK","z","a"], 4],
      [["ZREVRANK","z","e"], 0],
      [["ZREVRANK","z","x"], null],
      ],
    ],
    [
      "ZRANK has no WITHSCORE in Redis 7.0",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANK","z","a","WITHSCORE"], E("ERR wrong number of arguments for 'zrank' command")],
      [["ZREVRANK","z","a","WITHSCORE"], E("ERR wrong number of arguments for 'zrevrank' command")],
      ],
    ],
    [
      "equal scores rank by member bytes",
      [
      [["ZADD","z",1,"b",1,"a",1,"B",1,"ab",0,"z"], 5],
      [["ZRANGE","z",0,-1], ["z","B","a","ab","b"]],
      [["ZRANK","z","ab"], 3],
      [["ZREVRANK","z","z"], 4],
      ],
    ],
    [
      "wrong type",
      [
      [["SET","s","x"], "OK"],
      [["ZSCORE","s","a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZMSCORE","s","a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZCARD","s"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZRANK","s","a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZREVRANK","s","a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
]);

table("ZCOUNT and ZLEXCOUNT", [
    [
      "score ranges: inclusive, exclusive, infinite",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZCOUNT","z",2,4], 3],
      [["ZCOUNT","z","(2",4], 2],
      [["ZCOUNT","z","(2","(4"], 1],
      [["ZCOUNT","z","-inf","+inf"], 5],
      [["ZCOUNT","z","(inf","+inf"], 0],
      [["ZCOUNT","z",4,2], 0],
      [["ZCOUNT","z","(3","(3"], 0],
      [["ZCOUNT","z",3,3], 1],
      [["ZCOUNT","nokey",0,1], 0],
      ],
    ],
    [
      "range bounds are read with plain strtod",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZCOUNT","z","","3"], 3],
      [["ZCOUNT","z","(","3"], 3],
      [["ZCOUNT","z"," \t2","3"], 2],
      [["ZCOUNT","z","2 ","3"], E("ERR min or max is not a float")],
      [["ZCOUNT","z","1e400","inf"], 0],
      [["ZCOUNT","z","-1e400","(3"], 2],
      [["ZCOUNT","z","1e-400","3"], 3],
      [["ZCOUNT","z","0x2","3"], 2],
      [["ZCOUNT","z","nan","3"], E("ERR min or max is not a float")],
      [["ZCOUNT","z","x","3"], E("ERR min or max is not a float")],
      [["ZCOUNT","z","3","(x"], E("ERR min or max is not a float")],
      [["ZCOUNT","z"," ","3"], E("ERR min or max is not a float")],
      ],
    ],
    [
      "lex ranges",
      [
      [["ZADD","z",0,"a",0,"b",0,"c",0,"d",0,"e"], 5],
      [["ZLEXCOUNT","z","-","+"], 5],
      [["ZLEXCOUNT","z","[b","(d"], 2],
      [["ZLEXCOUNT","z","(b","[d"], 2],
      [["ZLEXCOUNT","z","+","-"], 0],
      [["ZLEXCOUNT","z","-","-"], 0],
      [["ZLEXCOUNT","z","+","+"], 0],
      [["ZLEXCOUNT","z","[b","[b"], 1],
      [["ZLEXCOUNT","z","(b","[b"], 0],
      [["ZLEXCOUNT","z","(","+"], 5],
      [["ZLEXCOUNT","z","[","+"], 5],
      [["ZLEXCOUNT","z","[c","[b"], 0],
      [["ZLEXCOUNT","nokey","-","+"], 0],
      ],
    ],
    [
      "invalid ranges are errors even on a missing key; wrong type after",
      [
      [["SET","s","x"], "OK"],
      [["ZCOUNT","z","x",1], E("ERR min or max is not a float")],
      [["ZCOUNT","s","x",1], E("ERR min or max is not a float")],
      [["ZCOUNT","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZLEXCOUNT","z","a","b"], E("ERR min or max not valid string range item")],
      [["ZLEXCOUNT","z","-a","+"], E("ERR min or max not valid string range item")],
      [["ZLEXCOUNT","z","[a","++"], E("ERR min or max not valid string range item")],
      [["ZLEXCOUNT","s","a","b"], E("ERR min or max not valid string range item")],
      [["ZLEXCOUNT","s","-","+"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
]);

table("ZRANGE and its older forms", [
    [
      "by rank, forward and REV, with scores",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANGE","z",0,-1], ["a","b","c","d","e"]],
      [["ZRANGE","z",1,2,"WITHSCORES"], ["b","2","c","3"]],
      [["ZRANGE","z",-2,-1], ["d","e"]],
      [["ZRANGE","z",3,1], []],
      [["ZRANGE","z",5,10], []],
      [["ZRANGE","z",-100,100], ["a","b","c","d","e"]],
      [["ZRANGE","z",0,0,"REV","WITHSCORES"], ["e","5"]],
      [["ZRANGE","z",0,1,"rev"], ["e","d"]],
      [["ZREVRANGE","z",0,1,"WITHSCORES"], ["e","5","d","4"]],
      [["ZREVRANGE","z",-1,-1], ["a"]],
      [["ZRANGE","nokey",0,-1], []],
      ],
    ],
    [
      "BYSCORE with REV and LIMIT",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANGE","z",2,4,"BYSCORE"], ["b","c","d"]],
      [["ZRANGE","z","(2","+inf","BYSCORE","WITHSCORES"], ["c","3","d","4","e","5"]],
      [["ZRANGE","z",5,1,"BYSCORE","REV"], ["e","d","c","b","a"]],
      [["ZRANGE","z","(5",1,"BYSCORE","REV","LIMIT",1,2,"WITHSCORES"], ["c","3","b","2"]],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",1,2], ["b","c"]],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",1,-1], ["b","c","d","e"]],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",1,0], []],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",-1,2], []],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",5,2], []],
      [["ZRANGE","z","-inf","+inf","BYSCORE","LIMIT",3,-5], ["d","e"]],
      [["ZRANGE","z",1,5,"BYSCORE","REV"], []],
      ],
    ],
    [
      "BYLEX with REV and LIMIT",
      [
      [["ZADD","z",0,"a",0,"b",0,"c",0,"d",0,"e"], 5],
      [["ZRANGE","z","[a","(c","BYLEX"], ["a","b"]],
      [["ZRANGE","z","[c","-","BYLEX","REV"], ["c","b","a"]],
      [["ZRANGE","z","-","+","BYLEX","LIMIT",1,2], ["b","c"]],
      [["ZRANGE","z","+","-","BYLEX","REV","LIMIT",1,2], ["d","c"]],
      [["ZRANGE","z","-","+","BYLEX","LIMIT",-1,2], []],
      [["ZRANGE","z","(e","+","BYLEX"], []],
      [["ZRANGE","z","-","(a","BYLEX"], []],
      ],
    ],
    [
      "the older commands",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANGEBYSCORE","z",1,2,"WITHSCORES","LIMIT",0,1], ["a","1"]],
      [["ZRANGEBYSCORE","z","(1","inf"], ["b","c","d","e"]],
      [["ZREVRANGEBYSCORE","z",2,1], ["b","a"]],
      [["ZREVRANGEBYSCORE","z","+inf","-inf","LIMIT",0,2,"WITHSCORES"], ["e","5","d","4"]],
      [["ZRANGEBYLEX","z","-","+","LIMIT",1,1], ["b"]],
      [["ZREVRANGEBYLEX","z","+","-","LIMIT",1,2], ["d","c"]],
      ],
    ],
    [
      "option errors",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANGE","z",0,-1,"LIMIT",0,1], E("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")],
      [["ZRANGE","z","-","+","BYLEX","WITHSCORES"], E("ERR syntax error, WITHSCORES not supported in combination with BYLEX")],
      [["ZRANGE","z",0,-1,"BYSCORE","BYLEX"], E("ERR syntax error")],
      [["ZRANGE","z",0,-1,"BYLEX","BYSCORE"], E("ERR syntax error")],
      [["ZRANGE","z",0,-1,"BYSCORE","BYSCORE"], E("ERR syntax error")],
      [["ZRANGE","z",0,-1,"REV","REV"], E("ERR syntax error")],
      [["ZRANGE","z",0,-1,"LIMIT",0], E("ERR syntax error")],
      [["ZRANGE","z",0,-1,"BYSCORE","LIMIT","a","b"], E("ERR value is not an integer or out of range")],
      [["ZRANGE","z",0,-1,"LIMIT",0,-1], ["a","b","c","d","e"]],
      [["ZRANGE","z","a","b"], E("ERR value is not an integer or out of range")],
      [["ZRANGE","z",0,"1.5"], E("ERR value is not an integer or out of range")],
      [["ZRANGE","z","x","y","BYSCORE"], E("ERR min or max is not a float")],
      [["ZRANGE","z","a","c","BYLEX"], E("ERR min or max not valid string range item")],
      [["ZRANGE","z",0,-1,"FOO"], E("ERR syntax error")],
      [["ZRANGEBYSCORE","z",1,2,"REV"], E("ERR syntax error")],
      [["ZRANGEBYSCORE","z",1,2,"BYLEX"], E("ERR syntax error")],
      [["ZREVRANGE","z",0,1,"LIMIT",0,1], E("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")],
      [["ZREVRANGE","z",0,1,"BYSCORE"], E("ERR syntax error")],
      [["ZRANGEBYLEX","z","-","+","WITHSCORES"], E("ERR syntax error, WITHSCORES not supported in combination with BYLEX")],
      [["ZRANGE","nokey","x","y"], E("ERR value is not an integer or out of range")],
      [["ZRANGE","nokey",0,-1,"LIMIT",0,1], E("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX")],
      ],
    ],
    [
      "wrong type only after the arguments parse",
      [
      [["SET","s","x"], "OK"],
      [["ZRANGE","s","x","y"], E("ERR value is not an integer or out of range")],
      [["ZRANGE","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZRANGEBYSCORE","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZRANGEBYLEX","s","-","+"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZREVRANGE","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
    [
      "ZRANGESTORE stores the range (scores kept), overwrites, deletes when empty",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["SET","d","x"], "OK"],
      [["ZRANGESTORE","d","z",0,1], 2],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["a","1","b","2"]],
      [["ZRANGESTORE","d","z",3,"+inf","BYSCORE","LIMIT",0,1], 1],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["c","3"]],
      [["ZRANGESTORE","d","z","[b","[c","BYLEX","REV"], 0],
      [["ZRANGE","d",0,-1,"WITHSCORES"], []],
      [["ZRANGESTORE","d","z",0,-1,"WITHSCORES"], E("ERR syntax error")],
      [["ZRANGESTORE","d","nokey",0,-1], 0],
      [["EXISTS","d"], 0],
      [["ZRANGESTORE","d","z",10,20], 0],
      [["EXISTS","d"], 0],
      [["SET","s","x"], "OK"],
      [["ZRANGESTORE","d","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
]);

table("ZREM and ZREMRANGEBY*", [
    [
      "ZREM counts removed members and deletes the emptied key",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZREM","z","a","x","a"], 1],
      [["ZREM","nokey","a"], 0],
      [["ZREM","z","b","c","d","e"], 4],
      [["EXISTS","z"], 0],
      ],
    ],
    [
      "ZREMRANGEBYRANK",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZREMRANGEBYRANK","z",0,0], 1],
      [["ZREMRANGEBYRANK","z",-1,-1], 1],
      [["ZREMRANGEBYRANK","z",5,9], 0],
      [["ZRANGE","z",0,-1], ["b","c","d"]],
      [["ZREMRANGEBYRANK","z",0,-1], 3],
      [["EXISTS","z"], 0],
      [["ZREMRANGEBYRANK","nokey",0,-1], 0],
      [["ZREMRANGEBYRANK","z","x",0], E("ERR value is not an integer or out of range")],
      ],
    ],
    [
      "ZREMRANGEBYSCORE",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZREMRANGEBYSCORE","z","(3","inf"], 2],
      [["ZREMRANGEBYSCORE","z",9,10], 0],
      [["ZRANGE","z",0,-1], ["a","b","c"]],
      [["ZREMRANGEBYSCORE","z","a","b"], E("ERR min or max is not a float")],
      [["ZREMRANGEBYSCORE","z","-inf","+inf"], 3],
      [["EXISTS","z"], 0],
      ],
    ],
    [
      "ZREMRANGEBYLEX",
      [
      [["ZADD","z",0,"a",0,"b",0,"c"], 3],
      [["ZREMRANGEBYLEX","z","(a","[b"], 1],
      [["ZREMRANGEBYLEX","z","a","b"], E("ERR min or max not valid string range item")],
      [["ZRANGE","z",0,-1], ["a","c"]],
      [["ZREMRANGEBYLEX","z","-","+"], 2],
      [["EXISTS","z"], 0],
      ],
    ],
    [
      "wrong type after the range parses",
      [
      [["SET","s","x"], "OK"],
      [["ZREM","s","a"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZREMRANGEBYRANK","s","x",0], E("ERR value is not an integer or out of range")],
      [["ZREMRANGEBYRANK","s",0,0], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZREMRANGEBYSCORE","s",0,1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZREMRANGEBYLEX","s","-","+"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      ],
    ],
]);

table("ZPOPMIN and ZPOPMAX", [
    [
      "pop one or count, lowest or highest first, deleting the emptied key",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZPOPMIN","z"], ["a","1"]],
      [["ZPOPMAX","z"], ["e","5"]],
      [["ZPOPMAX","z",2], ["d","4","c","3"]],
      [["ZPOPMIN","z",0], []],
      [["ZPOPMIN","z",5], ["b","2"]],
      [["EXISTS","z"], 0],
      [["ZPOPMIN","nokey"], []],
      [["ZPOPMIN","nokey",2], []],
      ],
    ],
    [
      "count errors",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZPOPMIN","z","x"], E("ERR value is out of range, must be positive")],
      [["ZPOPMIN","z",-1], E("ERR value is out of range, must be positive")],
      [["ZPOPMIN","nokey","x"], E("ERR value is out of range, must be positive")],
      [["ZPOPMIN","z",1,2], E("ERR syntax error")],
      [["ZPOPMIN","z","9223372036854775808"], E("ERR value is out of range, must be positive")],
      [["SET","s","x"], "OK"],
      [["ZPOPMIN","s"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZPOPMIN","s",0], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZPOPMAX","s",-1], E("ERR value is out of range, must be positive")],
      ],
    ],
]);

table("ZRANDMEMBER", [
    [
      "argument errors and empty replies",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["SET","s","x"], "OK"],
      [["ZRANDMEMBER","nokey"], null],
      [["ZRANDMEMBER","nokey",5], []],
      [["ZRANDMEMBER","nokey",5,"WITHSCORES"], []],
      [["ZRANDMEMBER","s"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZRANDMEMBER","s","x"], E("ERR value is not an integer or out of range")],
      [["ZRANDMEMBER","s",1], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZRANDMEMBER","z","x"], E("ERR value is not an integer or out of range")],
      [["ZRANDMEMBER","z",1,"foo"], E("ERR syntax error")],
      [["ZRANDMEMBER","z",1,"WITHSCORES","x"], E("ERR syntax error")],
      [["ZRANDMEMBER","nokey",1,"foo"], E("ERR syntax error")],
      [["ZRANDMEMBER","z",0], []],
      [["ZRANDMEMBER","z",0,"WITHSCORES"], []],
      [["ZRANDMEMBER","z","-9223372036854775808"], E("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")],
      [["ZRANDMEMBER","z","4611686018427387904","WITHSCORES"], E("ERR value is out of range")],
      [["ZRANDMEMBER","z","-4611686018427387904","WITHSCORES"], E("ERR value is out of range")],
      ],
    ],
    [
      "a count at least the size replies every member, from the highest",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",4,"d",5,"e"], 5],
      [["ZRANDMEMBER","z",5,"WITHSCORES"], ["e","5","d","4","c","3","b","2","a","1"]],
      [["ZRANDMEMBER","z",100], ["e","d","c","b","a"]],
      ],
    ],
]);

table("ZUNION ZINTER ZDIFF ZINTERCARD and the STORE forms", [
    [
      "union, intersection and difference with scores",
      [
      [["ZADD","z",1,"a",2,"b",3,"c"], 3],
      [["ZADD","y",10,"b",20,"c",30,"d"], 3],
      [["ZUNION",2,"z","y"], ["a","b","c","d"]],
      [["ZUNION",2,"z","y","WITHSCORES"], ["a","1","b","12","c","23","d","30"]],
      [["ZINTER",2,"z","y","WITHSCORES"], ["b","12","c","23"]],
      [["ZDIFF",2,"z","y","WITHSCORES"], ["a","1"]],
      [["ZDIFF",2,"y","z"], ["d"]],
      [["ZINTER",2,"z","z","WITHSCORES"], ["a","2","b","4","c","6"]],
      [["ZDIFF",2,"z","z"], []],
      [["ZUNION",2,"z","nokey","WITHSCORES"], ["a","1","b","2","c","3"]],
      [["ZINTER",2,"z","nokey"], []],
      ],
    ],
    [
      "WEIGHTS and AGGREGATE",
      [
      [["ZADD","z",1,"a",2,"b",3,"c"], 3],
      [["ZADD","y",10,"b",20,"c",30,"d"], 3],
      [["ZINTER",2,"z","y","WITHSCORES","AGGREGATE","MAX"], ["b","10","c","20"]],
      [["ZINTER",2,"z","y","WITHSCORES","aggregate","min","weights",2,"0.5"], ["b","4","c","6"]],
      [["ZUNION",2,"z","y","WEIGHTS","inf","-inf","WITHSCORES"], ["d","-inf","b","0","c","0","a","inf"]],
      [["ZUNION",2,"z","y","WEIGHTS",0,"inf","WITHSCORES"], ["a","0","b","inf","c","inf","d","inf"]],
      [["ZUNION",2,"z","y","WEIGHTS",0,1,"WITHSCORES","AGGREGATE","MAX"], ["a","0","b","10","c","20","d","30"]],
      [["ZADD","i","inf","a","-inf","b"], 2],
      [["ZUNION",2,"i","i","WITHSCORES"], ["b","-inf","a","inf"]],
      [["ZINTER",2,"i","i","WITHSCORES","WEIGHTS",1,-1], ["a","0","b","0"]],
      [["ZUNION",1,"z","WITHSCORES","WITHSCORES"], ["a","1","b","2","c","3"]],
      ],
    ],
    [
      "plain sets count as score 1",
      [
      [["ZADD","z",1,"a",2,"b",3,"c"], 3],
      [["SADD","st","a","d","x"], 3],
      [["ZUNION",2,"z","st","WITHSCORES"], ["d","1","x","1","a","2","b","2","c","3"]],
      [["ZINTER",2,"z","st","WITHSCORES"], ["a","2"]],
      [["ZDIFF",2,"z","st","WITHSCORES"], ["b","2","c","3"]],
      [["ZDIFF",1,"st","WITHSCORES"], ["a","1","d","1","x","1"]],
      [["ZINTERCARD",2,"z","st"], 1],
      ],
    ],
    [
      "errors",
      [
      [["ZADD","z",1,"a"], 1],
      [["SET","s","x"], "OK"],
      [["ZUNION",2,"z","z","WEIGHTS",2], E("ERR syntax error")],
      [["ZUNION",2,"z","z","WEIGHTS",2,"x"], E("ERR weight value is not a float")],
      [["ZUNION",1,"z","WEIGHTS"," 1"], E("ERR weight value is not a float")],
      [["ZUNION",2,"z","z","WEIGHTS",2,3,4], E("ERR syntax error")],
      [["ZUNION",2,"z","z","AGGREGATE","avg"], E("ERR syntax error")],
      [["ZUNION",2,"z","z","AGGREGATE"], E("ERR syntax error")],
      [["ZUNION",0,"z"], E("ERR at least 1 input key is needed for 'zunion' command")],
      [["ZUNION",-1,"z"], E("ERR at least 1 input key is needed for 'zunion' command")],
      [["ZUNION","x","z"], E("ERR value is not an integer or out of range")],
      [["ZUNION",3,"z","z"], E("ERR syntax error")],
      [["ZUNION",2,"z","s"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZUNION",2,"z","s","foo"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZUNION",3,"z","s"], E("ERR syntax error")],
      [["ZDIFF",2,"z","z","WEIGHTS",1,1], E("ERR syntax error")],
      [["ZDIFF",2,"z","z","AGGREGATE","SUM"], E("ERR syntax error")],
      [["ZINTER",0,"z"], E("ERR at least 1 input key is needed for 'zinter' command")],
      [["ZDIFF",0,"z"], E("ERR at least 1 input key is needed for 'zdiff' command")],
      [["ZUNIONSTORE","d",2,"z","z","WITHSCORES"], E("ERR syntax error")],
      [["ZUNIONSTORE","d",0,"z"], E("ERR at least 1 input key is needed for 'zunionstore' command")],
      [["ZINTERSTORE","d",5,"z"], E("ERR syntax error")],
      [["ZDIFFSTORE","d",-1,"z"], E("ERR at least 1 input key is needed for 'zdiffstore' command")],
      ],
    ],
    [
      "ZINTERCARD with LIMIT",
      [
      [["ZADD","z",1,"a",2,"b",3,"c"], 3],
      [["ZADD","y",10,"b",20,"c",30,"d"], 3],
      [["SET","s","x"], "OK"],
      [["ZINTERCARD",2,"z","y"], 2],
      [["ZINTERCARD",2,"z","y","LIMIT",1], 1],
      [["ZINTERCARD",2,"z","y","LIMIT",0], 2],
      [["ZINTERCARD",2,"z","y","LIMIT",-1], E("ERR LIMIT can't be negative")],
      [["ZINTERCARD",2,"z","y","LIMIT","x"], E("ERR LIMIT can't be negative")],
      [["ZINTERCARD",2,"z","y","WITHSCORES"], E("ERR syntax error")],
      [["ZINTERCARD",0,"z"], E("ERR at least 1 input key is needed for 'zintercard' command")],
      [["ZINTERCARD",2,"z","s"], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZINTERCARD",2,"z","nokey"], 0],
      ],
    ],
    [
      "the STORE forms overwrite the destination and delete it when empty",
      [
      [["ZADD","z",1,"a",2,"b",3,"c"], 3],
      [["ZADD","y",10,"b",20,"c",30,"d"], 3],
      [["SET","d","x"], "OK"],
      [["ZUNIONSTORE","d",2,"z","y"], 4],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["a","1","b","12","c","23","d","30"]],
      [["ZINTERSTORE","d",2,"z","y","WEIGHTS",1,2,"AGGREGATE","MIN"], 2],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["b","2","c","3"]],
      [["ZDIFFSTORE","d",2,"z","y"], 1],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["a","1"]],
      [["ZINTERSTORE","d",2,"z","nokey"], 0],
      [["EXISTS","d"], 0],
      [["ZUNIONSTORE","z",2,"z","y"], 4],
      [["ZRANGE","z",0,-1,"WITHSCORES"], ["a","1","b","12","c","23","d","30"]],
      [["ZDIFFSTORE","d",1,"nokey"], 0],
      [["EXISTS","d"], 0],
      ],
    ],
]);

table("ZSCAN", [
    [
      "one call returns every member with its score, MATCH filters",
      [
      [["ZADD","z",1,"a",2,"b",3,"c",0.5,"ab"], 4],
      [["ZSCAN","z",0], ["0",["ab","0.5","a","1","b","2","c","3"]]],
      [["ZSCAN","z",0,"MATCH","a*"], ["0",["ab","0.5","a","1"]]],
      [["ZSCAN","z",0,"COUNT",1], ["0",["ab","0.5","a","1","b","2","c","3"]]],
      [["ZSCAN","z",5], ["0",["ab","0.5","a","1","b","2","c","3"]]],
      [["ZSCAN","nokey",0], ["0",[]]],
      [["ZSCAN","nokey",0,"foo"], ["0",[]]],
      ],
    ],
    [
      "errors",
      [
      [["ZADD","z",1,"a"], 1],
      [["SET","s","x"], "OK"],
      [["ZSCAN","z","x"], E("ERR invalid cursor")],
      [["ZSCAN","z",0,"NOVALUES"], E("ERR syntax error")],
      [["ZSCAN","z",0,"COUNT",0], E("ERR syntax error")],
      [["ZSCAN","z",0,"COUNT","x"], E("ERR value is not an integer or out of range")],
      [["ZSCAN","z",0,"NOVALUES","COUNT","x"], E("ERR syntax error")],
      [["ZSCAN","z",0,"MATCH"], E("ERR syntax error")],
      [["ZSCAN","s",0], E("WRONGTYPE Operation against a key holding the wrong kind of value")],
      [["ZSCAN","s","x"], E("ERR invalid cursor")],
      ],
    ],
]);


table("-0, member order, lex ranges over mixed scores, TTLs", [
    [
      "a -0 computed by WEIGHTS is replied as -0 and stored as 0",
      [
      [["ZADD","z",0,"a",1,"b"], 2],
      [["ZUNION",1,"z","WEIGHTS",-1,"WITHSCORES"], ["b","-1","a","-0"]],
      [["ZUNIONSTORE","d",1,"z","WEIGHTS",-1], 2],
      [["ZRANGE","d",0,-1,"WITHSCORES"], ["b","-1","a","0"]],
      [["ZINTER",1,"z","WEIGHTS",-1,"WITHSCORES"], ["b","-1","a","-0"]],
      ],
    ],
    [
      "unicode member order is byte order",
      [
      [["ZADD","u",0,"\uFFFD",0,"\u{1F600}",0,"a",0,"é",0,"\uE000"], 5],
      [["ZRANGE","u",0,-1], ["a","é","\uE000","\uFFFD","\u{1F600}"]],
      [["ZRANGE","u","[\uE000","+","BYLEX"], ["\uE000","\uFFFD","\u{1F600}"]],
      ],
    ],
    [
      "lex ranges over mixed scores take the first run",
      [
      [["ZADD","m",1,"b",2,"a",3,"c",4,"b2"], 4],
      [["ZRANGE","m","[a","[c","BYLEX"], ["b","a","c","b2"]],
      [["ZLEXCOUNT","m","[a","[c"], 4],
      [["ZRANGE","m","[c","[a","BYLEX","REV"], ["b2","c","a","b"]],
      [["ZRANGE","m","[b","+","BYLEX"], ["b","a","c","b2"]],
      [["ZREMRANGEBYLEX","m","[b","[b3"], 2],
      [["ZRANGE","m",0,-1], ["c","b2"]],
      ],
    ],
    [
      "writes keep the key's TTL; the STORE forms write a key without one",
      [
      [["ZADD","z",1,"a"], 1],
      [["EXPIRE","z",100], 1],
      [["ZADD","z",2,"b"], 1],
      [["TTL","z"], 100],
      [["ZINCRBY","z",1,"a"], "2"],
      [["ZREM","z","b"], 1],
      [["ZPOPMIN","z",0], []],
      [["TTL","z"], 100],
      [["ZADD","d",1,"x"], 1],
      [["EXPIRE","d",100], 1],
      [["ZUNIONSTORE","d",1,"z"], 1],
      [["TTL","d"], -1],
      [["EXPIRE","d",100], 1],
      [["ZRANGESTORE","d","z",0,-1], 1],
      [["TTL","d"], -1],
      ],
    ],
]);


table("expired sorted sets count as absent", [
  [
    "a sorted set past its TTL reads as missing and is replaced by ZADD without the old TTL",
    [
      [["ZADD", "z", 1, "a"], 1],
      [["PEXPIRE", "z", 100], 1],
      { advance: 100 },
      [["ZCARD", "z"], 0],
      [["ZRANGE", "z", 0, -1], []],
      [["ZUNION", 1, "z"], []],
      [["ZADD", "z", 2, "b"], 1],
      [["ZRANGE", "z", 0, -1, "WITHSCORES"], ["b", "2"]],
      [["TTL", "z"], -1],
    ],
  ],
]);

describe("ZRANDMEMBER picks", () => {
  const ks = new MapKeyspace();
  run(ks, T0, ["ZADD", "z", 1, "a", 2, "b", 3, "c", 4, "d", 5, "e"]);
  const members = ["a", "b", "c", "d", "e"];

  it("without a count replies one member", () => {
    expect(members).toContain(run(ks, T0, ["ZRANDMEMBER", "z"]));
  });
  it("a positive count below the size replies that many distinct members", () => {
    const reply = run(ks, T0, ["ZRANDMEMBER", "z", 3]) as string[];
    expect(reply).toHaveLength(3);
    expect(new Set(reply).size).toBe(3);
    for (const m of reply) expect(members).toContain(m);
  });
  it("WITHSCORES pairs each member with its score", () => {
    const reply = run(ks, T0, ["ZRANDMEMBER", "z", 2, "WITHSCORES"]) as string[];
    expect(reply).toHaveLength(4);
    for (let i = 0; i < reply.length; i += 2) expect(reply[i + 1]).toBe(String(members.indexOf(reply[i] as string) + 1));
  });
  it("a negative count may repeat members and replies exactly that many", () => {
    const reply = run(ks, T0, ["ZRANDMEMBER", "z", -50]) as string[];
    expect(reply).toHaveLength(50);
    for (const m of reply) expect(members).toContain(m);
    expect(new Set(reply).size).toBeGreaterThan(1);
    const withScores = run(ks, T0, ["ZRANDMEMBER", "z", -3, "WITHSCORES"]) as string[];
    expect(withScores).toHaveLength(6);
  });
  it("a negative count past the server's limit is refused", () => {
    expect(run(ks, T0, ["ZRANDMEMBER", "z", -100001])).toEqual(E("ERR ZRANDMEMBER count is limited to -100000 on this server"));
  });
});

describe("score text", () => {
  it.each([
    [0.1, "0.10000000000000001"],
    [1, "1"],
    [-1, "-1"],
    [1e20, "1e+20"],
    [1e16, "10000000000000000"],
    [1e17, "1e+17"],
    [Infinity, "inf"],
    [-Infinity, "-inf"],
    [1.5e-7, "1.4999999999999999e-07"],
    [0.0001, "0.0001"],
    [0.00001, "1.0000000000000001e-05"],
    [5e-324, "4.9406564584124654e-324"],
    [1.7976931348623157e308, "1.7976931348623157e+308"],
    [1.00000762939453125, "1.0000076293945312"], // a tie: glibc rounds to even, V8's toExponential away from zero
    [-0, "-0"],
    [123456789012345678, "1.2345678901234568e+17"],
  ])("formatScore(%s) is %j as in redis-server", (value, text) => {
    expect(formatScore(value)).toBe(text);
  });

  it.each([
    ["1", 1],
    ["-1.5e3", -1500],
    ["0x10", 16],
    ["0x1p-2", 0.25],
    ["inf", Infinity],
    ["-INFINITY", -Infinity],
    ["nan", null],
    [" 1", null],
    ["1 ", null],
    ["", null],
    ["1e400", null],
    ["1e-400", null],
    ["0e-400", 0],
    ["1\u0000", null],
  ])("parseScore(%j) is %s", (text, value) => {
    expect(parseScore(text)).toBe(value);
  });

  it("range bounds read as strtod does: spaces first, empty is 0, cut at NUL, overflow is infinity", () => {
    expect(parseScoreBound(" 2")).toEqual({ value: 2, exclusive: false });
    expect(parseScoreBound("(")).toEqual({ value: 0, exclusive: true });
    expect(parseScoreBound("3\u0000x")).toEqual({ value: 3, exclusive: false });
    expect(parseScoreBound("1e400")).toEqual({ value: Infinity, exclusive: false });
    expect(parseScoreBound("2 ")).toBeNull();
    expect(parseScoreBound("nan")).toBeNull();
  });

  it("members compare as UTF-8 bytes, not UTF-16 code units", () => {
    expect(compareMembers("\u{1F600}", "\uFFFD")).toBeGreaterThan(0);
    expect("\u{1F600}" < "\uFFFD").toBe(true); // what plain JS comparison would have said
    expect(compareMembers("a", "ab")).toBeLessThan(0);
    expect(compareMembers("b", "ab")).toBeGreaterThan(0);
    expect(compareMembers("x", "x")).toBe(0);
  });
});

describe("sorted sets of 10,000 members", () => {
  it("stay ordered through a pipeline of writes and reads", () => {
    const ks = new MapKeyspace();
    const words: (string | number)[] = ["ZADD", "big"];
    for (let i = 0; i < 10_000; i++) words.push((i * 7919) % 10_000, `m${i}`);
    expect(run(ks, T0, words)).toBe(10_000);
    for (let i = 0; i < 40; i++) {
      expect(run(ks, T0, ["ZADD", "big", 10_000 + i, `new${i}`])).toBe(1);
      expect(run(ks, T0, ["ZINCRBY", "big", -1, `m${i}`])).toBeTypeOf("string");
      expect(run(ks, T0, ["ZRANK", "big", `new${i}`])).toBe(10_000 + i);
      expect(run(ks, T0, ["ZCOUNT", "big", "(9999", "+inf"])).toBe(i + 1);
    }
    expect(run(ks, T0, ["ZRANGE", "big", 0, 0, "WITHSCORES"])).toEqual(["m0", "-1"]);
    const all = run(ks, T0, ["ZRANGE", "big", 0, -1, "WITHSCORES"]) as string[];
    expect(all).toHaveLength(2 * 10_040);
    for (let i = 3; i < all.length; i += 2) expect(Number(all[i - 2]) <= Number(all[i])).toBe(true);
    const below = run(ks, T0, ["ZCOUNT", "big", "-inf", "(5000"]) as number;
    expect(below).toBeGreaterThanOrEqual(5000);
    expect(run(ks, T0, ["ZREMRANGEBYSCORE", "big", "-inf", "(5000"])).toBe(below);
    expect(run(ks, T0, ["ZCARD", "big"])).toBe(10_040 - below);
  });
});
